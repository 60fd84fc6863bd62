// sihl nginx-config: writes a configuration for Debian's nginx to serve the workspace's store to devices
// (static files, the pinned certificate) and pass reports and the console to `sihl serve` behind it.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../../core/fs.ts';
import { ensureServerCertificate } from '../../publisher/certificate-files.ts';
import { nginxConfig } from '../../server/nginx-config.ts';
import { type Command, integer, optionalString, requireString } from '../command.ts';
import { pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

interface NginxConfigResult {
  readonly config: string;
  readonly url: string;
  readonly upstreamPort: number;
  readonly prefix: string;
  readonly store: string;
  readonly certificate: string;
  readonly fingerprint: string;
}

export const nginxConfigCommand: Command<NginxConfigResult> = {
  path: ['nginx-config'],
  summary: 'Write an nginx configuration that serves the store and passes reports and the console to sihl.',
  usage:
    'nginx-config -o FILE [--host H] [--port N] [--upstream-port N] [--prefix DIR] [--workers N] [--user NAME] [--reports-per-second N] [--workspace DIR] [--json]',
  details: prose`
    nginx serves the store as static files with sihl's rules (docs/SERVER.md §nginx in front) and the
    certificate devices pin (tls/server.crt); POST /v1/reports and /console go to \`sihl serve\` on
    127.0.0.1:--upstream-port, which must run beside it:
      sihl nginx-config -o sihl-nginx.conf && sihl serve --port 8444 & nginx -c "$PWD/sihl-nginx.conf"
    FILE is replaced if it exists. The pid file, error log and temporary files go to --prefix.
  `,
  options: {
    ...optionLines(`
      -o, --output FILE       where to write the configuration
      --host H                address nginx listens on for devices (default 127.0.0.1)
      --port N                port nginx listens on (default 8443)
      --upstream-port N       port of \`sihl serve\` on 127.0.0.1 (default 8444)
      --prefix DIR            nginx's pid, log and temporary files (default WORKSPACE/nginx)
      --workers N             worker processes (default: one per core)
      --user NAME             user the workers run as when nginx starts as root
      --reports-per-second N  reports accepted per second from one address (default 10, burst 20)
    `),
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    const output = pathIn(context, requireString(values, 'output'));
    const host = optionalString(values, 'host') ?? '127.0.0.1';
    const named = ['127.0.0.1', 'localhost', '0.0.0.0', '::'].includes(host) ? [] : [host];
    const certificate = await ensureServerCertificate(workspace, named);
    const prefix = resolve(
      pathIn(context, optionalString(values, 'prefix') ?? resolve(workspace.dir, 'nginx')),
    );
    const port = integer(values, 'port', 8443, 1, 65535);
    const upstreamPort = integer(values, 'upstream-port', 8444, 1, 65535);
    const user = optionalString(values, 'user');
    const text = nginxConfig({
      storeDir: resolve(workspace.storeDir),
      certPath: resolve(certificate.certPath),
      keyPath: resolve(certificate.keyPath),
      host,
      port,
      upstreamPort,
      prefix,
      workers: values.workers === undefined ? 'auto' : integer(values, 'workers', 1, 1, 1024),
      ...(user ? { user } : {}),
      reportsPerSecond: integer(values, 'reports-per-second', 10, 1, 100_000),
    });
    await mkdir(prefix, { recursive: true, mode: 0o700 });
    await writeFileAtomic(output, text, { overwrite: true });
    return {
      config: output,
      url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      upstreamPort,
      prefix,
      store: workspace.storeDir,
      certificate: certificate.certPath,
      fingerprint: certificate.fingerprint,
    };
  },
  render: (r) =>
    `wrote ${r.config}: nginx serves ${r.store} at ${r.url} (certificate ${r.certificate}, SHA-256 ${r.fingerprint})\n` +
    `run beside it: sihl serve --port ${r.upstreamPort}\nstart nginx: nginx -c ${r.config}`,
};
