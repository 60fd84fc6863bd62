// sihl serve: the embedded HTTPS server over the workspace's store, until SIGINT or SIGTERM. It returns
// once listening, so main.ts prints the URL and fingerprint; the open server keeps the process alive.
import { SihlError } from '../../core/errors.ts';
import { ensureServerCertificate } from '../../publisher/certificate-files.ts';
import { logStorePath } from '../../publisher/fleet.ts';
import { refuseOfflineKeys } from '../../publisher/online-keys.ts';
import { holdsPrivateKey, type Passphrases } from '../../publisher/role-keys.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { Console } from '../../server/console/console.ts';
import { DEFAULT_LIMITS, type RequestLog } from '../../server/server.ts';
import { startService } from '../../server/service.ts';
import { TIMESTAMP_CHECK_MS } from '../../server/timestamp-keeper.ts';
import { formatLocation } from '../../storage/locations.ts';
import { type Command, type Context, integer, optionalString } from '../command.ts';
import { optionLines, prose } from '../option-lines.ts';
import { keyVariable, ownPassphrase } from '../passphrase.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

export interface ServeResult {
  readonly url: string;
  readonly port: number;
  /** SHA-256 of the certificate devices pin. */
  readonly fingerprint: string;
  readonly certificate: string;
  readonly store: string;
  readonly logs: string;
  /** The operators' console, and where its operator token is. */
  readonly console: string;
  readonly operatorToken: string;
  /** The server re-signs the timestamp itself before it expires (it holds the key and its passphrase). */
  readonly timestampRefresh: boolean;
  /** Stops the server (what SIGINT does); not part of the printed result. */
  readonly stop: () => Promise<void>;
}

function requestLine(r: RequestLog): string {
  return `${new Date().toISOString()} ${r.remote} ${r.method} ${r.path} ${r.status} ${r.bytes} ${r.ms}ms\n`;
}

const logLine = (text: string) => process.stderr.write(`${new Date().toISOString()} ${text}\n`);

/**
 * The online keys' passphrases, from the environment only (a server has no terminal): each key's own
 * variable or file, else the shared SIHL_PASSPHRASE. Undefined when none is set at all.
 */
function serverPassphrases(context: Context): Passphrases | undefined {
  const shared = context.env.SIHL_PASSPHRASE || undefined;
  const hasOwn = Object.keys(context.env).some((name) => name.startsWith('SIHL_PASSPHRASE_'));
  if (shared === undefined && !hasOwn) return undefined;
  return async (name) => {
    const passphrase = (await ownPassphrase(context, name)) ?? shared;
    if (passphrase !== undefined) return passphrase;
    throw new SihlError(
      'PASSPHRASE_MISSING',
      `the server needs the passphrase of key ${name}: set SIHL_PASSPHRASE_${keyVariable(name)}`,
    );
  };
}

/** Whether this folder can re-sign the timestamp: it holds a timestamp key and passphrases are set. */
async function refreshesTimestamp(workspace: Workspace, passphrases: Passphrases | undefined) {
  if (passphrases === undefined) return false;
  for (const name of workspace.config.roles.timestamp.keys)
    if (await holdsPrivateKey(workspace, name)) return true;
  return false;
}

export const serve: Command<ServeResult> = {
  path: ['serve'],
  summary: 'Serve the store to devices over HTTPS and accept their signed status reports.',
  usage: 'serve [--host H] [--port N] [--max-connections N] [--verbose] [--workspace DIR] [--json]',
  details: prose`
    Run it from an online folder (\`sihl online create DIR\`): it refuses a folder or store where a root or
    approver private key is readable. Devices pin tls/server.crt. Runs until SIGINT or SIGTERM.
    Reports go to the log store (sihl.json "log", else logs.db in the folder); see them with
    \`sihl fleet status\` or the console at /console. Halts and advances mirror to sihl.json's store
    (docs/CONSOLE.md). With SIHL_PASSPHRASE_TIMESTAMP and SIHL_PASSPHRASE_SNAPSHOT set, the server
    re-signs the timestamp itself once half its life is gone, and halts failing rollouts by itself.
  `,
  options: {
    ...optionLines(`
      --host H             address to listen on (default 127.0.0.1)
      --port N             port (default 8443; 0 picks a free one)
      --verbose            one line per request on stderr
      --max-connections N  open connections at once; more are refused (default 16384, about 80 KiB each; mind \`ulimit -n\`)
    `),
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    await refuseOfflineKeys(workspace);
    const host = optionalString(values, 'host') ?? '127.0.0.1';
    // A certificate made now also names the host given, unless that is a wildcard address.
    const named = ['127.0.0.1', 'localhost', '0.0.0.0', '::'].includes(host) ? [] : [host];
    const certificate = await ensureServerCertificate(workspace, named);
    const passphrases = serverPassphrases(context);
    const timestampRefresh = await refreshesTimestamp(workspace, passphrases);
    const service = await startService({
      workspace,
      key: certificate.key,
      cert: certificate.cert,
      env: context.env,
      host,
      port: integer(values, 'port', 8443, 0, 65535),
      limits: {
        maxConnections: integer(values, 'max-connections', DEFAULT_LIMITS.maxConnections, 1, 1_000_000),
      },
      ...(passphrases ? { passphrases } : {}),
      ...(timestampRefresh && passphrases
        ? {
            timestamp: {
              passphrases,
              onRefresh: (r) => logLine(`timestamp refreshed: version ${r.version}, expires ${r.expires}`),
              onError: (e) =>
                logLine(
                  `timestamp refresh failed, tried again in ${TIMESTAMP_CHECK_MS / 60_000} minutes: ${String(e)}`,
                ),
            },
          }
        : {}),
      // A running server's request log is its output: main.ts has printed the result already.
      ...(values.verbose ? { onRequest: (r: RequestLog) => process.stderr.write(requestLine(r)) } : {}),
    });
    const { server } = service;
    const web = service.console as Console;
    const logs = formatLocation(workspace.logLocation ?? { kind: 'local', path: logStorePath(workspace) });
    let stopping: Promise<void> | undefined;
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      stopping ??= service.close();
      return stopping;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return {
      url: server.url,
      port: server.port,
      fingerprint: certificate.fingerprint,
      certificate: certificate.certPath,
      store: workspace.storeDir,
      logs,
      console: `${server.url}/console`,
      operatorToken: web.tokenPath,
      timestampRefresh,
      stop,
    };
  },
  render: (r) =>
    `serving ${r.store} at ${r.url}\ncertificate ${r.certificate}\nSHA-256 fingerprint ${r.fingerprint}\n` +
    `console ${r.console} (operator token in ${r.operatorToken})\n` +
    (r.timestampRefresh
      ? 'the timestamp is re-signed here before it expires\n'
      : 'the timestamp is not re-signed here: set SIHL_PASSPHRASE_TIMESTAMP, or run `sihl timestamp refresh` daily\n') +
    'stop with Ctrl-C',
};
