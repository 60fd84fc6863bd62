// HTML for the console: escaping, the page frame and the rollout chart (inline SVG, no script). Every
// value from the fleet (owners, reasons, versions) goes through `h` or `attr`.
import type { HistoryEntry } from '../../publisher/rollout.ts';
import type { TimelinePoint } from './report-index.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text, escaped for HTML content and attribute values. */
export function h(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

export function time(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

export function page(title: string, body: string, options: { nav?: boolean; csrf?: string } = {}): string {
  const nav =
    options.nav === false
      ? ''
      : `<nav><a href="/console">Overview</a><a href="/console/devices">Devices</a>
<form method="post" action="/console/logout" class="inline"><input type="hidden" name="csrf" value="${h(options.csrf)}"><button type="submit">Log out</button></form></nav>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)} · sihl console</title><link rel="stylesheet" href="/console/style.css"></head>
<body><header><strong>sihl</strong> console${nav}</header><main>
<h1>${h(title)}</h1>
${body}
</main></body></html>
`;
}

/**
 * The rollout over time: devices that installed the release (line) and that failed (line), with the
 * stage changes and halts from the rollout history as vertical marks.
 */
export function rolloutChart(
  points: readonly TimelinePoint[],
  history: readonly HistoryEntry[] = [],
): string {
  const W = 640;
  const H = 200;
  const pad = { l: 44, r: 12, t: 12, b: 28 };
  if (points.length === 0) return '<p class="muted" id="rollout-chart">No reports for this release yet.</p>';
  const t0 =
    (points[0] as TimelinePoint).at -
    ((points[1]?.at ?? (points[0] as TimelinePoint).at + 1) - (points[0] as TimelinePoint).at);
  const t1 = (points.at(-1) as TimelinePoint).at;
  const max = Math.max(1, ...points.map((p) => Math.max(p.installed, p.failed)));
  const x = (t: number) => pad.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - pad.l - pad.r);
  const y = (n: number) => H - pad.b - (n / max) * (H - pad.t - pad.b);
  const line = (pick: (p: TimelinePoint) => number) =>
    [
      `${x(t0).toFixed(1)},${y(0).toFixed(1)}`,
      ...points.map((p) => `${x(p.at).toFixed(1)},${y(pick(p)).toFixed(1)}`),
    ].join(' ');
  const marks = history
    .map((e) => ({ e, t: Date.parse(e.at) }))
    .filter(({ t }) => t >= t0 && t <= t1)
    .map(
      ({ e, t }) =>
        `<line class="mark ${h(e.action)}" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${pad.t}" y2="${H - pad.b}"><title>${h(e.action)} ${h(e.percent)} % at ${h(e.at)}</title></line>`,
    )
    .join('');
  const last = points.at(-1) as TimelinePoint;
  return `<figure id="rollout-chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Devices installed and failed over time">
<line class="axis" x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}"/><line class="axis" x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}"/>
<text x="${pad.l - 6}" y="${pad.t + 8}" text-anchor="end">${max}</text><text x="${pad.l - 6}" y="${H - pad.b}" text-anchor="end">0</text>
<text x="${pad.l}" y="${H - 8}">${h(time(t0))}</text><text x="${W - pad.r}" y="${H - 8}" text-anchor="end">${h(time(t1))}</text>
${marks}<polyline class="installed" points="${line((p) => p.installed)}"/><polyline class="failed" points="${line((p) => p.failed)}"/>
</svg><figcaption><span class="key installed">installed ${last.installed}</span> <span class="key failed">failed ${last.failed}</span></figcaption></figure>`;
}
