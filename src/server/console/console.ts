// The web console at /console on `sihl serve` (docs/CONSOLE.md): its parts composed, and access checked
// before any route (routes.ts) runs. The server hands every /console request to `handle`.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock } from '../../core/clock.ts';
import { pick } from '../../core/pick.ts';
import type { StoreChoice } from '../../publisher/cloud-store.ts';
import { openRegistry } from '../../publisher/registry.ts';
import type { Passphrases } from '../../publisher/role-keys.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { LogStore } from '../../storage/log-store.ts';
import { ensureOperatorToken, OperatorAuth } from './auth.ts';
import { html, readForm, redirect, sameOrigin, send } from './http.ts';
import { Notices } from './notices.ts';
import { loginPage } from './pages.ts';
import { indexingLogStore, openReportIndex, type ReportIndex } from './report-index.ts';
import { RolloutMonitor } from './rollout-monitor.ts';
import { getRoute, postRoute, type RouteContext } from './routes.ts';
import { indexPath } from './workspace-index.ts';

export { CONSOLE_ACTIONS, type ConsoleAction } from './actions.ts';

const CSS = readFile(new URL('./assets/console.css', import.meta.url), 'utf8');

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

export async function openConsole(options: ConsoleOptions): Promise<Console> {
  const { workspace } = options;
  const clock = options.now ?? systemClock;
  const { token, path: tokenPath } = await ensureOperatorToken(workspace.dir);
  const auth = new OperatorAuth(token, clock);
  const notices = new Notices(() => clock().getTime());
  const registry = openRegistry(workspace.registryPath);
  const index = openReportIndex(indexPath(workspace), registry);
  index.syncRegistry();
  await index.catchUp(options.logStore);
  const monitor = new RolloutMonitor({
    workspace,
    index,
    ...pick(options, ['passphrases', 'store', 'now', 'onEvent']),
    ...(options.deviceLogs ? { logStore: options.deviceLogs } : {}),
    ...(options.checkDelayMs !== undefined ? { delayMs: options.checkDelayMs } : {}),
    ...(options.checkEveryMs !== undefined ? { everyMs: options.checkEveryMs } : {}),
  });
  const context: RouteContext = {
    workspace,
    index,
    monitor,
    auth,
    clock,
    notices,
    ...pick(options, ['passphrases', 'store', 'now']),
    monitorText: () =>
      monitor.canAct
        ? `Automatic checks are on: halting on failures${monitor.lastError ? ` (last check failed: ${monitor.lastError})` : ''}.`
        : 'Automatic checks only watch: the server has no passphrases (SIHL_PASSPHRASE), so it cannot sign a halt.',
  };
  return {
    logStore: indexingLogStore(options.logStore, index, () => monitor.checkSoon()),
    tokenPath,
    monitor,
    index,
    handle: (req, res) => handle(context, req, res),
    async close() {
      await monitor.close();
      index.close();
      registry.close();
    },
  };
}

/** Every /console request: the stylesheet and the login form are open, the rest needs an operator. */
async function handle(context: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const { auth } = context;
  const url = new URL(req.url ?? '/', 'https://console.invalid');
  if (url.pathname === '/console/style.css')
    return send(res, 200, await CSS, 'text/css; charset=utf-8', { 'cache-control': 'max-age=300' });
  if (url.pathname === '/console/login') {
    if (req.method !== 'POST') return html(res, 200, loginPage(false));
    if (!sameOrigin(req)) return send(res, 403, 'cross-origin request refused\n', 'text/plain');
    const form = await readForm(req);
    const session = auth.login(form?.get('token') ?? '');
    if (!session) return html(res, 401, loginPage(true));
    return redirect(res, '/console', { 'set-cookie': auth.cookie(session) });
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
  const path = url.pathname.replace(/\/+$/, '') || '/console';
  const method = req.method ?? 'GET';
  if (method === 'POST') return postRoute(context, req, res, path, { session, bearer });
  if (method !== 'GET' && method !== 'HEAD')
    return send(res, 405, 'GET or POST\n', 'text/plain', { allow: 'GET, HEAD, POST' });
  return getRoute(context, res, url, path, session?.csrf ?? '');
}
