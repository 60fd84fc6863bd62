// nginx beside `sihl serve` in `npm run load` and the memory bench: the same store, file and
// certificate, one worker (sihl is one process), so their memory per connection can be put side by
// side; and nginx in front of sihl, with the configuration `sihl nginx-config` writes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Served, type ServeWorkspace, startServe, stop } from './load.ts';

const SIHL = fileURLToPath(new URL('../../bin/sihl.js', import.meta.url));

/** Started as root, nginx's worker runs as nobody: let it read the served folders (only those). */
export async function letNginxRead(dir: string, storeDir: string): Promise<void> {
  for (const path of [dirname(dir), dir, storeDir, join(storeDir, 'metadata')]) await chmod(path, 0o755);
}

export async function startNginxBeside(ws: ServeWorkspace, connections: number): Promise<Served> {
  const port = await freePort();
  const prefix = join(dirname(ws.dir), 'nginx');
  await mkdir(prefix, { recursive: true });
  await letNginxRead(ws.dir, ws.workspace.storeDir);
  const conf = join(prefix, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections ${connections * 2 + 64}; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  types { application/json json; }
  server {
    listen 127.0.0.1:${port} ssl backlog=4096;
    ssl_certificate ${join(ws.dir, 'tls', 'server.crt')};
    ssl_certificate_key ${join(ws.dir, 'tls', 'server.key')};
    root ${ws.workspace.storeDir};
  }
}
`,
  );
  // As for sihl serve (load.ts startServe): the open-file limit raised to the hard limit in its shell.
  const command = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec nginx "$@"';
  const child = spawn('bash', ['-c', command, 'nginx', '-p', prefix, '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `https://127.0.0.1:${port}`;
  await waitForNginx(child, url, ws.ca);
  return { child, port, url, ca: ws.ca, pids: () => [child.pid as number] };
}

async function waitForNginx(child: ChildProcess, url: string, ca: string): Promise<void> {
  for (let i = 0; ; i++) {
    const up = await fetchStatus(url, ca).catch(() => 0);
    if (up === 200) return;
    if (child.exitCode !== null || i > 100) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Writes, with `sihl nginx-config`, nginx's configuration for the deployment docs/SERVER.md §nginx in front
 * describes: one worker on `port` serving the store, reports and the console passed to `upstreamPort`.
 */
export function writeFrontConfig(
  file: string,
  workspaceDir: string,
  prefix: string,
  ports: { readonly port: number; readonly upstreamPort: number },
): void {
  const args = [
    ...[SIHL, 'nginx-config', '-o', file, '--workspace', workspaceDir, '--prefix', prefix],
    ...['--port', String(ports.port), '--upstream-port', String(ports.upstreamPort), '--workers', '1'],
  ];
  const configure = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (configure.status !== 0) throw new Error(`sihl nginx-config failed: ${configure.stderr}`);
}

/**
 * nginx in front of `sihl serve` (its default limits, on a port of its own behind nginx): the `child`
 * is nginx, `pids` both servers, so their memory is counted together; `stop` ends both.
 */
export async function startInFront(ws: ServeWorkspace): Promise<Served & { stop(): Promise<void> }> {
  const [port, upstreamPort] = [await freePort(), await freePort()];
  const prefix = join(dirname(ws.dir), 'front');
  await letNginxRead(ws.dir, ws.workspace.storeDir);
  const conf = join(dirname(ws.dir), 'front.conf');
  writeFrontConfig(conf, ws.dir, prefix, { port, upstreamPort });
  const sihl = await startServe(ws, upstreamPort);
  const child = spawn('nginx', ['-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitForNginx(child, url, ws.ca);
  } catch (error) {
    await stop(sihl.child);
    throw error;
  }
  return {
    child,
    port,
    url,
    ca: ws.ca,
    pids: () => [child.pid as number, sihl.child.pid as number],
    stop: async () => {
      await stop(child, 'SIGQUIT');
      await stop(sihl.child);
    },
  };
}

async function fetchStatus(url: string, ca: string): Promise<number> {
  const { get } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = get(`${url}/metadata/timestamp.json`, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}
