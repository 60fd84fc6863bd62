// The web console at /console on `sihl serve` (docs/CONSOLE.md): routes, access checks and security
// headers. Pages are rendered on the server from the report index (pages.ts); the JSON API under
// /console/api serves the same data to scripts. The server hands every /console request to `handle`.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SihlError } from '../../core/errors.ts';
import type { StoreChoice } from '../../publisher/cloud-store.ts';
import { openRegistry } from '../../publisher/registry.ts';
import type { Passphrases } from '../../publisher/role-keys.ts';
import { readRollout } from '../../publisher/rollout.ts';
import { advanceRollout, haltRollout, resumeRollout } from '../../publisher/rollout-publish.ts';
import type { Clock } from '../../publisher/tuf/expiry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { LogStore } from '../../storage/log-store.ts';
import { ensureOperatorToken, OperatorAuth, type Session } from './auth.ts';
import {
  devicePage,
  devicesPage,
  loginPage,
  overviewPage,
  type ReleaseSummary,
  releasePage,
} from './pages.ts';
import {
  type DeviceFilterStatus,
  type DeviceQuery,
  indexingLogStore,
  openReportIndex,
  type ReportIndex,
} from './report-index.ts';
import { publishedReleases, RolloutMonitor } from './rollout-monitor.ts';
import { indexPath } from './workspace-index.ts';

/** What an operator may do to a release from the console. */
export const CONSOLE_ACTIONS = ['halt', 'resume', 'advance'] as const;
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];
const isConsoleAction = (verb: string): verb is ConsoleAction =>
  (CONSOLE_ACTIONS as readonly string[]).includes(verb);

const CSS = readFile(new URL('./assets/console.css', import.meta.url), 'utf8');
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

export interface ConsoleOptions {
  readonly workspace: Workspace;
  /** The server's log store: the console returns a wrapper to hand to the server instead. */
  readonly logStore: LogStore;
  /** For halting and advancing from the console and by the monitor; without them the console only watches. */
  readonly passphrases?: Passphrases;
  /** Where halts and advances are mirrored to: sihl.json's store, with credentials from its `env`. */
  readonly store?: StoreChoice;
  /** The log store devices write to directly (an Azure table), read before every automatic check. */
  readonly deviceLogs?: LogStore;
  readonly now?: Clock;
  readonly checkDelayMs?: number;
  readonly checkEveryMs?: number;
  readonly onEvent?: (event: { release: string; action: string; why: string }) => void;
}

export interface Console {
  handle(req: IncomingMessage, res: ServerResponse): Promise<number>;
  /** Give this to the server: appends go to the log store and into the console's index. */
  readonly logStore: LogStore;
  readonly tokenPath: string;
  readonly monitor: RolloutMonitor;
  readonly index: ReportIndex;
  close(): Promise<void>;
}

function send(
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
const html = (res: ServerResponse, status: number, body: string, headers?: Record<string, string>) =>
  send(res, status, body, 'text/html; charset=utf-8', headers);
const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json');
const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}) =>
  send(res, 303, '', 'text/plain', { location: to, ...headers });

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
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
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === `https://${req.headers.host}`;
}

const STATUSES = new Set(['ok', 'failed', 'silent', 'revoked']);
function deviceQuery(params: URLSearchParams, now: number): DeviceQuery & { seen?: string } {
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

export async function openConsole(options: ConsoleOptions): Promise<Console> {
  const { workspace } = options;
  const now = options.now ?? (() => new Date());
  const { token, path: tokenPath } = await ensureOperatorToken(workspace.dir);
  const auth = new OperatorAuth(token, now);
  const registry = openRegistry(workspace.registryPath);
  const index = openReportIndex(indexPath(workspace), registry);
  index.syncRegistry();
  await index.catchUp(options.logStore);
  const monitor = new RolloutMonitor({
    workspace,
    index,
    ...(options.passphrases ? { passphrases: options.passphrases } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.deviceLogs ? { logStore: options.deviceLogs } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.checkDelayMs !== undefined ? { delayMs: options.checkDelayMs } : {}),
    ...(options.checkEveryMs !== undefined ? { everyMs: options.checkEveryMs } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const logStore = indexingLogStore(options.logStore, index, () => monitor.checkSoon());

  const releases = async (): Promise<ReleaseSummary[]> =>
    Promise.all(
      (await publishedReleases(workspace)).map(async (ref) => {
        const state = await readRollout(join(workspace.dir, 'releases', ref.name)).catch(() => undefined);
        const [model, version] = [
          ref.target.split('/')[0] ?? '',
          ref.name.slice((ref.target.split('/')[0] ?? '').length + 1),
        ];
        return {
          name: ref.name,
          target: ref.target,
          model,
          version,
          percent: ref.percent,
          status: state?.status ?? (ref.halted ? 'halted' : ref.percent >= 100 ? 'complete' : 'active'),
          ...(state ? { state } : {}),
        };
      }),
    );
  const release = async (name: string) => (await releases()).find((r) => r.name === name);
  const monitorText = () =>
    monitor.canAct
      ? `Automatic checks are on: halting on failures${monitor.lastError ? ` (last check failed: ${monitor.lastError})` : ''}.`
      : 'Automatic checks only watch: the server has no passphrases (SIHL_PASSPHRASE), so it cannot sign a halt.';

  async function act(name: string, verb: ConsoleAction): Promise<string> {
    if (!options.passphrases)
      return 'The server cannot sign: start it with SIHL_PASSPHRASE set (docs/CONSOLE.md).';
    const passphrases = options.passphrases;
    const o = { passphrases, ...options.store, ...(options.now ? { now: options.now } : {}) };
    return monitor.run(async () => {
      switch (verb) {
        case 'halt': {
          const r = await release(name);
          const counts = r ? index.counts(r.target, new Date(r.state?.countSince ?? 0)) : undefined;
          await haltRollout(workspace, name, { ...o, by: 'operator', ...(counts ? { counts } : {}) });
          return 'Halted: new devices no longer get this release.';
        }
        case 'resume':
          await resumeRollout(workspace, name, o);
          return 'Resumed at the stage it halted at.';
        case 'advance': {
          const r = await advanceRollout(workspace, name, o);
          return `Advanced to ${r.state.percent} %.`;
        }
      }
    });
  }

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    session: Session | undefined,
    bearer: boolean,
  ): Promise<number> {
    const path = url.pathname.replace(/\/+$/, '') || '/console';
    const method = req.method ?? 'GET';
    const csrf = session?.csrf ?? '';
    const api = path.startsWith('/console/api/');
    if (method === 'POST') {
      if (!sameOrigin(req)) return send(res, 403, 'cross-origin request refused\n', 'text/plain');
      const form = await readForm(req);
      if (!form && !bearer)
        return send(res, 415, 'a form is application/x-www-form-urlencoded, at most 4 KiB\n', 'text/plain');
      // A cookie alone is not enough to change anything: the form must carry the session's CSRF token.
      if (!bearer && !(session && OperatorAuth.csrfOk(session, form?.get('csrf') ?? undefined)))
        return send(res, 403, 'missing or wrong CSRF token\n', 'text/plain');
      if (path === '/console/logout') {
        if (session) auth.logout(session);
        return redirect(res, '/console/login', { 'set-cookie': OperatorAuth.clearCookie() });
      }
      const m = /^\/console(\/api)?\/releases\/([^/]+)\/([^/]+)$/.exec(path);
      if (!m) return send(res, 404, 'not found\n', 'text/plain');
      const verb = m[3] as string;
      if (!isConsoleAction(verb))
        return send(res, 400, `unknown action; one of ${CONSOLE_ACTIONS.join(', ')}\n`, 'text/plain');
      const name = decodeURIComponent(m[2] as string);
      if (!(await release(name))) return send(res, 404, 'no such release\n', 'text/plain');
      let notice: string;
      let status = 200;
      try {
        notice = await act(name, verb);
      } catch (error) {
        // Refusals (halted already, at 100 %, a store out of reach) are told; a bug answers 500.
        if (!(error instanceof SihlError)) throw error;
        notice = `Not done: ${error.message}`;
        status = 409;
      }
      if (m[1]) return json(res, status, { release: name, notice });
      return redirect(
        res,
        `/console/releases/${encodeURIComponent(name)}?notice=${encodeURIComponent(notice)}`,
      );
    }
    if (method !== 'GET' && method !== 'HEAD')
      return send(res, 405, 'GET or POST\n', 'text/plain', { allow: 'GET, HEAD, POST' });
    const at = now().getTime();
    if (path === '/console') {
      const all = await releases();
      const shown = all.find((r) => r.status === 'active' || r.status === 'halted') ?? all.at(-1);
      return html(
        res,
        200,
        overviewPage(
          {
            totals: index.totals(),
            versions: index.versions(),
            releases: all,
            ...(shown ? { chart: { release: shown, points: index.timeline(shown.target) } } : {}),
            monitor: monitorText(),
          },
          csrf,
        ),
      );
    }
    if (path === '/console/devices' || path === '/console/api/devices') {
      const query = deviceQuery(url.searchParams, at);
      const result = index.listDevices(query);
      return api ? json(res, 200, result) : html(res, 200, devicesPage(query, result, csrf));
    }
    let m = /^\/console(\/api)?\/devices\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      const device = index.device(m[2] as string);
      if (!device) return send(res, 404, 'no such device\n', 'text/plain');
      const history = index.history(device.id);
      return m[1] ? json(res, 200, { device, history }) : html(res, 200, devicePage(device, history, csrf));
    }
    m = /^\/console(\/api)?\/releases\/([^/]+)$/.exec(path);
    if (m) {
      const r = await release(decodeURIComponent(m[2] as string));
      if (!r) return send(res, 404, 'no such release\n', 'text/plain');
      const counts = index.counts(r.target, new Date(r.state?.countSince ?? 0));
      const points = index.timeline(r.target);
      if (m[1]) return json(res, 200, { release: r, counts, timeline: points });
      const notice = url.searchParams.get('notice')?.slice(0, 300) ?? undefined;
      return html(res, 200, releasePage(r, counts, points, csrf, notice));
    }
    if (path === '/console/api/overview') {
      return json(res, 200, {
        totals: index.totals(),
        versions: index.versions(),
        releases: await releases(),
      });
    }
    return send(res, 404, 'not found\n', 'text/plain');
  }

  return {
    logStore,
    tokenPath,
    monitor,
    index,
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'https://console.invalid');
      if (url.pathname === '/console/style.css')
        return send(res, 200, await CSS, 'text/css; charset=utf-8', { 'cache-control': 'max-age=300' });
      if (url.pathname === '/console/login') {
        if (req.method === 'POST') {
          if (!sameOrigin(req)) return send(res, 403, 'cross-origin request refused\n', 'text/plain');
          const form = await readForm(req);
          const session = auth.login(form?.get('token') ?? '');
          if (!session) return html(res, 401, loginPage(true));
          return redirect(res, '/console', { 'set-cookie': auth.cookie(session) });
        }
        return html(res, 200, loginPage(false));
      }
      const session = auth.session(req);
      const bearer = auth.bearer(req);
      if (!session && !bearer) {
        const browser = req.method === 'GET' && !url.pathname.startsWith('/console/api/');
        return browser
          ? redirect(res, '/console/login')
          : send(res, 401, 'operator login required\n', 'text/plain', {
              'www-authenticate': 'Bearer realm="sihl console"',
            });
      }
      return route(req, res, url, session, bearer);
    },
    async close() {
      await monitor.close();
      index.close();
      registry.close();
    },
  };
}
