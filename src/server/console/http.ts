// The console's HTTP plumbing (docs/CONSOLE.md §Access): responses with the security headers every page
// carries, bounded form bodies, the same-origin guard, and the device table's filters read from a URL.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeviceFilterStatus, DeviceQuery } from './report-index.ts';

const FORM_MAX_BYTES = 4096;
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on form posts.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  type: string,
  headers: Record<string, string> = {},
): number {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
  return status;
}
export const html = (res: ServerResponse, status: number, body: string, headers?: Record<string, string>) =>
  send(res, status, body, 'text/html; charset=utf-8', headers);
export const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json');
export const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}) =>
  send(res, 303, '', 'text/plain', { location: to, ...headers });

export async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  let length = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > FORM_MAX_BYTES) return undefined;
    parts.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(parts).toString('utf8'));
}

/** A browser's POST must come from this origin (a second guard beside the CSRF token and SameSite). */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === `https://${req.headers.host}`;
}

/** The device table's filters from a query string; unknown values are left out. */
const STATUSES = new Set(['ok', 'failed', 'silent', 'revoked']);
export function deviceQuery(params: URLSearchParams, now: number): DeviceQuery & { seen?: string } {
  const text = (name: string) => params.get(name)?.slice(0, 100) || undefined;
  const seen = text('seen');
  const status = text('status');
  return {
    ...(text('q') ? { q: text('q') } : {}),
    ...(text('model') ? { model: text('model') } : {}),
    ...(text('version') ? { version: text('version') } : {}),
    ...(status && STATUSES.has(status) ? { status: status as DeviceFilterStatus } : {}),
    ...(text('error') ? { error: text('error') } : {}),
    ...(seen === '1h'
      ? { seenSince: now - 3_600_000 }
      : seen === '24h'
        ? { seenSince: now - 86_400_000 }
        : {}),
    ...(seen === 'stale' ? { seenBefore: now - 86_400_000 } : {}),
    ...(seen ? { seen } : {}),
    page: Number(params.get('page')) || 1,
    size: Number(params.get('size')) || 50,
  };
}
