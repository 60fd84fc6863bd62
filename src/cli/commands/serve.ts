// sihl serve: the embedded HTTPS server over the workspace's store, until SIGINT or SIGTERM. It returns
// once listening, so main.ts prints the URL and fingerprint; the open server keeps the process alive.

import { ensureServerCertificate } from '../../publisher/certificate-files.ts';
import { logStorePath } from '../../publisher/fleet.ts';
import type { Console } from '../../server/console/console.ts';
import { DEFAULT_LIMITS, type RequestLog } from '../../server/server.ts';
import { startService } from '../../server/service.ts';
import { formatLocation } from '../../storage/locations.ts';
import { type Command, integer, optionalString } from '../command.ts';
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
  /** Stops the server (what SIGINT does); not part of the printed result. */
  readonly stop: () => Promise<void>;
}

function requestLine(r: RequestLog): string {
  return `${new Date().toISOString()} ${r.remote} ${r.method} ${r.path} ${r.status} ${r.bytes} ${r.ms}ms\n`;
}

export const serve: Command<ServeResult> = {
  path: ['serve'],
  summary: 'Serve the store to devices over HTTPS and accept their signed status reports.',
  usage: 'serve [--host H] [--port N] [--max-connections N] [--verbose] [--workspace DIR] [--json]',
  details:
    'Devices pin tls/server.crt (made at init, or now if missing). Runs until SIGINT or SIGTERM.\n' +
    'Reports go to the log store (sihl.json "log", else logs.db in the workspace); see them with\n' +
    "`sihl fleet status` or the console at /console. Halts and advances mirror to sihl.json's store\n" +
    '(docs/CONSOLE.md). With SIHL_PASSPHRASE set, the server halts failing rollouts by itself.',
  options: {
    host: { type: 'string', value: 'H', help: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', value: 'N', help: 'port (default 8443; 0 picks a free one)' },
    verbose: { type: 'boolean', help: 'one line per request on stderr' },
    'max-connections': {
      type: 'string',
      value: 'N',
      help: 'open connections at once; more are refused (default 16384, about 70 KiB each; mind `ulimit -n`)',
    },
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    const host = optionalString(values, 'host') ?? '127.0.0.1';
    // A certificate made now also names the host given, unless that is a wildcard address.
    const named = ['127.0.0.1', 'localhost', '0.0.0.0', '::'].includes(host) ? [] : [host];
    const certificate = await ensureServerCertificate(workspace, named);
    // The console signs halts with the keys' passphrases from the environment only: a server has no terminal.
    const passphrase = context.env.SIHL_PASSPHRASE;
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
      ...(passphrase ? { passphrases: async () => passphrase } : {}),
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
      stop,
    };
  },
  render: (r) =>
    `serving ${r.store} at ${r.url}\ncertificate ${r.certificate}\nSHA-256 fingerprint ${r.fingerprint}\n` +
    `console ${r.console} (operator token in ${r.operatorToken})\n` +
    'stop with Ctrl-C',
};
