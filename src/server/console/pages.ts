// The console's pages, rendered on the server from plain data: no script runs in the browser.
import {
  failurePercent,
  percentText,
  type RolloutCounts,
  type RolloutState,
} from '../../publisher/rollout.ts';
import { h, page, query, rolloutChart, time } from './html.ts';
import type { DeviceQuery, DeviceRow, ReportRow, TimelinePoint } from './report-index.ts';

export interface ReleaseSummary {
  /** MODEL-VERSION: the release folder and the page's name. */
  readonly name: string;
  readonly target: string;
  readonly model: string;
  readonly version: string;
  readonly percent: number;
  /** Hex, from the published entry. */
  readonly releaseId: string;
  /** The channel it is published on: only devices of that channel count. */
  readonly channel: string;
  readonly status: RolloutState['status'];
  readonly state?: RolloutState;
}

export function loginPage(failed: boolean): string {
  return page(
    'Log in',
    `${failed ? '<p class="error" role="alert">That is not the operator token.</p>' : ''}
<form method="post" action="/console/login" class="login">
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button></form>
<p class="muted">The token is in <code>console/operator.token</code> in the workspace (see docs/CONSOLE.md).</p>`,
    { nav: false },
  );
}

function statusBadge(status: string): string {
  return `<span class="badge ${h(status)}">${h(status)}</span>`;
}

export function overviewPage(
  data: {
    totals: { devices: number; reported: number; failing: number };
    versions: { model: string; version: string; devices: number }[];
    releases: ReleaseSummary[];
    chart?: { release: ReleaseSummary; points: TimelinePoint[] };
    monitor: string;
  },
  csrf: string,
): string {
  const max = Math.max(1, ...data.versions.map((v) => v.devices));
  const versions = data.versions
    .map(
      (
        v,
      ) => `<tr><td>${h(v.model)}</td><td><a href="/console/devices${query({ model: v.model, version: v.version })}">${h(v.version)}</a></td>
<td class="num">${v.devices}</td><td><meter min="0" max="${max}" value="${v.devices}"></meter></td></tr>`,
    )
    .join('');
  const releases = data.releases
    .map(
      (r) =>
        `<tr><td><a href="/console/releases/${h(r.name)}">${h(r.name)}</a></td><td>${statusBadge(r.status)}</td><td class="num">${r.percent} %</td>
<td>${r.state?.halt ? h(r.state.halt.reason) : ''}</td></tr>`,
    )
    .join('');
  return page(
    'Fleet overview',
    `<section class="cards"><div class="card"><b>${data.totals.devices}</b> devices</div>
<div class="card"><b>${data.totals.reported}</b> reported</div><div class="card"><b>${data.totals.failing}</b> failing now</div></section>
<section><h2>Rollouts</h2>${
      data.chart
        ? `<h3>${h(data.chart.release.name)}</h3>${rolloutChart(data.chart.points, data.chart.release.state?.history)}`
        : ''
    }
<table id="releases"><thead><tr><th>Release</th><th>Status</th><th>Offered to</th><th>Why halted</th></tr></thead><tbody>${
      releases || '<tr><td colspan="4">Nothing published yet.</td></tr>'
    }</tbody></table><p class="muted">${h(data.monitor)}</p></section>
<section><h2>Devices per model and version</h2><table id="versions"><thead><tr><th>Model</th><th>Version</th><th>Devices</th><th></th></tr></thead>
<tbody>${versions || '<tr><td colspan="4">No devices registered.</td></tr>'}</tbody></table></section>`,
    { csrf },
  );
}

const STATUSES = ['', 'ok', 'failed', 'silent', 'revoked'];
const SEEN = [
  ['', 'any time'],
  ['1h', 'in the last hour'],
  ['24h', 'in the last day'],
  ['stale', 'not in the last day'],
] as const;

export function devicesPage(
  filters: DeviceQuery & { seen?: string },
  result: { rows: DeviceRow[]; total: number; page: number; size: number },
  csrf: string,
): string {
  const rows = result.rows
    .map(
      (
        d,
      ) => `<tr><td><a href="/console/devices/${h(d.id)}"><code>${h(d.id.slice(0, 16))}…</code></a></td><td class="num">${d.idx}</td>
<td>${h(d.model)}</td><td>${h(d.owner)}</td><td>${h(d.running ?? '—')}</td><td>${d.revoked ? statusBadge('revoked') : h(d.lastOutcome ?? 'no report')}</td>
<td>${h(time(d.lastSeen))}</td><td>${d.lastError ? `${h(d.lastError)} <span class="muted">${h(time(d.lastErrorAt))}</span>` : ''}</td></tr>`,
    )
    .join('');
  const pages = Math.max(1, Math.ceil(result.total / result.size));
  const link = (p: number, text: string) =>
    `<a href="/console/devices${query({ q: filters.q, model: filters.model, version: filters.version, status: filters.status, error: filters.error, seen: filters.seen, page: p })}" rel="${text === 'Next' ? 'next' : 'prev'}">${text}</a>`;
  const option = (value: string, label: string, current?: string) =>
    `<option value="${h(value)}"${value === (current ?? '') ? ' selected' : ''}>${h(label)}</option>`;
  return page(
    'Devices',
    `<form method="get" action="/console/devices" class="filters" role="search">
<input name="q" type="search" placeholder="device id or owner" value="${h(filters.q)}" aria-label="Search">
<input name="model" placeholder="model" value="${h(filters.model)}" aria-label="Model">
<input name="version" placeholder="version (none: no report)" value="${h(filters.version)}" aria-label="Version">
<select name="status" aria-label="Status">${STATUSES.map((s) => option(s, s || 'any status', filters.status)).join('')}</select>
<input name="error" placeholder="last error, e.g. APP_CRASHED" value="${h(filters.error)}" aria-label="Last error">
<select name="seen" aria-label="Last seen">${SEEN.map(([v, l]) => option(v, l, filters.seen)).join('')}</select>
<button type="submit">Filter</button></form>
<p><span id="device-total">${result.total}</span> devices · page ${result.page} of ${pages}</p>
<table id="devices"><thead><tr><th>Device</th><th>Index</th><th>Model</th><th>Owner</th><th>Version</th><th>Status</th><th>Last seen</th><th>Last error</th></tr></thead>
<tbody>${rows || '<tr><td colspan="8">No device matches.</td></tr>'}</tbody></table>
<p class="pager">${result.page > 1 ? link(result.page - 1, 'Previous') : ''} ${result.page < pages ? link(result.page + 1, 'Next') : ''}</p>`,
    { csrf },
  );
}

export function devicePage(device: DeviceRow, history: ReportRow[], csrf: string): string {
  const rows = history
    .map(
      (
        r,
      ) => `<tr><td class="num">${r.seq}</td><td>${h(time(r.received))}</td><td>${h(r.outcome)}</td><td>${h(r.running)}</td>
<td>${h(r.target ?? '')}</td><td>${h(r.reason ?? '')}</td><td class="num">${h(r.attempts ?? '')}</td></tr>`,
    )
    .join('');
  return page(
    `Device ${device.id.slice(0, 16)}…`,
    `<dl class="facts"><dt>Id</dt><dd><code>${h(device.id)}</code></dd><dt>Index</dt><dd>${device.idx}</dd>
<dt>Model</dt><dd>${h(device.model)}</dd><dt>Owner</dt><dd>${h(device.owner)}</dd><dt>Running</dt><dd>${h(device.running ?? '—')}</dd>
<dt>Status</dt><dd>${device.revoked ? 'revoked' : h(device.lastOutcome ?? 'no report yet')}</dd><dt>Last seen</dt><dd>${h(time(device.lastSeen))}</dd>
<dt>Last error</dt><dd>${h(device.lastError ?? '—')} ${device.lastErrorAt ? h(time(device.lastErrorAt)) : ''}</dd></dl>
<h2>Report history</h2><table id="history"><thead><tr><th>Seq</th><th>Received</th><th>Outcome</th><th>Running</th><th>Target</th><th>Reason</th><th>Attempts</th></tr></thead>
<tbody>${rows || '<tr><td colspan="7">No reports yet.</td></tr>'}</tbody></table>`,
    { csrf },
  );
}

export function releasePage(
  release: ReleaseSummary,
  counts: RolloutCounts,
  points: TimelinePoint[],
  csrf: string,
  notice?: string,
): string {
  const state = release.state;
  const at = state?.percent ?? release.percent;
  const stages = (state?.stages ?? [release.percent])
    .map((s) => `<li class="${s === at ? 'current' : s < at ? 'done' : ''}">${s} %</li>`)
    .join('');
  const action = (verb: string, label: string, danger = false) =>
    `<form method="post" action="/console/releases/${h(release.name)}/${verb}" class="inline"><input type="hidden" name="csrf" value="${h(csrf)}"><button type="submit" name="action" value="${verb}"${danger ? ' class="danger"' : ''}>${label}</button></form>`;
  const halt = state?.halt;
  const why = halt
    ? `<div class="halt" id="halt-reason" role="status"><b>Halted ${halt.by === 'auto' ? 'automatically' : 'by an operator'}</b> at ${h(time(Date.parse(halt.at)))}, at ${halt.percent} %:
${halt.by === 'auto' ? `${h(halt.reason)}.` : ''}<br>${halt.failed} of ${halt.reported} reporting devices had failed (${h(percentText(halt.failurePercent))}).</div>`
    : '';
  const buttons = [
    release.status === 'halted' ? action('resume', 'Resume rollout') : action('halt', 'Halt rollout', true),
    release.status === 'active' ? action('advance', 'Advance to next stage') : '',
  ].join(' ');
  const policy = state?.policy;
  const history = (state?.history ?? [])
    .map(
      (e) =>
        `<tr><td>${h(time(Date.parse(e.at)))}</td><td>${h(e.action)}</td><td>${h(e.by)}</td><td class="num">${e.percent} %</td><td>${h(e.note ?? '')}</td></tr>`,
    )
    .join('');
  return page(
    `Release ${release.name}`,
    `${notice ? `<p class="notice" role="alert">${h(notice)}</p>` : ''}<p>${statusBadge(release.status)} offered to <b>${release.percent} %</b> of ${h(release.model)} devices · target <code>${h(release.target)}</code></p>
${why}<h2>Stages</h2><ol class="stages">${stages}</ol>
<p>${buttons}</p>
<h2>Reports</h2><p id="counts">${counts.reported} of the ${counts.offered} devices offered this release reported since the stage began: ${counts.succeeded} succeeded, ${counts.failed} failed (${h(percentText(failurePercent(counts)))}).
${policy ? `Halts at ${h(percentText(policy.failurePercent))} with at least ${policy.minFailures} failures.` : ''}</p>
${rolloutChart(points, state?.history)}
<h2>History</h2><table id="rollout-history"><thead><tr><th>When</th><th>What</th><th>By</th><th>Offered to</th><th>Note</th></tr></thead><tbody>${history}</tbody></table>`,
    { csrf },
  );
}
