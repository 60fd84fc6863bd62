// The console's routes once the operator is known (docs/CONSOLE.md): pages and JSON for GET, the three
// rollout actions for POST. Pages are rendered from the report index (pages.ts); /console/api serves the
// same data to scripts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../core/clock.ts';
import { SihlError } from '../../core/errors.ts';
import { cohortOf } from '../../publisher/rollout.ts';
import { type ActionContext, act, CONSOLE_ACTIONS, isConsoleAction, releaseSummaries } from './actions.ts';
import { OperatorAuth, type Session } from './auth.ts';
import { deviceQuery, html, json, readForm, redirect, sameOrigin, send } from './http.ts';
import type { Notices } from './notices.ts';
import { devicePage, devicesPage, overviewPage, releasePage } from './pages.ts';

export interface RouteContext extends ActionContext {
  readonly auth: OperatorAuth;
  readonly clock: Clock;
  readonly monitorText: () => string;
  /** Notices this server made, picked up by id after a redirect (notices.ts). */
  readonly notices: Notices;
}

export interface Caller {
  readonly session: Session | undefined;
  readonly bearer: boolean;
}

const ACTION = /^\/console(\/api)?\/releases\/([^/]+)\/([^/]+)$/;

/** POST: log out, or halt | resume | advance a release. */
export async function postRoute(
  context: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  caller: Caller,
): Promise<number> {
  const { session, bearer } = caller;
  if (!sameOrigin(req)) return send(res, 403, 'cross-origin request refused\n', 'text/plain');
  const form = await readForm(req);
  if (!form && !bearer)
    return send(res, 415, 'a form is application/x-www-form-urlencoded, at most 4 KiB\n', 'text/plain');
  // A cookie alone is not enough to change anything: the form must carry the session's CSRF token.
  if (!bearer && !(session && OperatorAuth.csrfOk(session, form?.get('csrf') ?? undefined)))
    return send(res, 403, 'missing or wrong CSRF token\n', 'text/plain');
  if (path === '/console/logout') {
    if (session) context.auth.logout(session);
    return redirect(res, '/console/login', { 'set-cookie': OperatorAuth.clearCookie() });
  }
  const m = ACTION.exec(path);
  if (!m) return send(res, 404, 'not found\n', 'text/plain');
  const verb = m[3] as string;
  if (!isConsoleAction(verb))
    return send(res, 400, `unknown action; one of ${CONSOLE_ACTIONS.join(', ')}\n`, 'text/plain');
  const name = decodeURIComponent(m[2] as string);
  if (!(await releaseSummaries(context.workspace)).some((r) => r.name === name))
    return send(res, 404, 'no such release\n', 'text/plain');
  let notice: string;
  let status = 200;
  try {
    notice = await act(context, name, verb);
  } catch (error) {
    // Refusals (halted already, at 100 %, a store out of reach) are told; a bug answers 500.
    if (!(error instanceof SihlError)) throw error;
    notice = `Not done: ${error.message}`;
    status = 409;
  }
  if (m[1]) return json(res, status, { release: name, notice });
  return redirect(res, `/console/releases/${encodeURIComponent(name)}?notice=${context.notices.put(notice)}`);
}

/** GET and HEAD: the overview, the device table, a device, a release, and their JSON. */
export async function getRoute(
  context: RouteContext,
  res: ServerResponse,
  url: URL,
  path: string,
  csrf: string,
): Promise<number> {
  const { index, workspace } = context;
  const api = path.startsWith('/console/api/');
  if (path === '/console') {
    const all = await releaseSummaries(workspace);
    const shown = all.find((r) => r.status === 'active' || r.status === 'halted') ?? all.at(-1);
    const chart = shown ? { chart: { release: shown, points: index.timeline(shown.target) } } : {};
    const overview = { totals: index.totals(), versions: index.versions(), releases: all };
    return html(res, 200, overviewPage({ ...overview, ...chart, monitor: context.monitorText() }, csrf));
  }
  if (path === '/console/devices' || path === '/console/api/devices') {
    const query = deviceQuery(url.searchParams, context.clock().getTime());
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
    const name = decodeURIComponent(m[2] as string);
    const r = (await releaseSummaries(workspace)).find((s) => s.name === name);
    if (!r) return send(res, 404, 'no such release\n', 'text/plain');
    const counts = index.counts(cohortOf(r, r.state));
    const points = index.timeline(r.target);
    if (m[1]) return json(res, 200, { release: r, counts, timeline: points });
    const notice = context.notices.get(url.searchParams.get('notice'));
    return html(res, 200, releasePage(r, counts, points, csrf, notice));
  }
  if (path === '/console/api/overview') {
    const releases = await releaseSummaries(workspace);
    return json(res, 200, { totals: index.totals(), versions: index.versions(), releases });
  }
  return send(res, 404, 'not found\n', 'text/plain');
}
