// nginx beside `sihl serve` in `npm run load`: the same store, file and certificate, one worker (sihl is
// one process), so their memory per connection can be put side by side.
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { freePort, type Served, type ServeWorkspace } from './load.ts';

export async function startNginxBeside(ws: ServeWorkspace, connections: number): Promise<Served> {
  const port = await freePort();
  const prefix = join(dirname(ws.dir), 'nginx');
  await mkdir(prefix, { recursive: true });
  // Started as root, nginx's worker runs as nobody: let it read the served folders (only those).
  for (const path of [
    dirname(ws.dir),
    ws.dir,
    ws.workspace.storeDir,
    join(ws.workspace.storeDir, 'metadata'),
  ])
    await chmod(path, 0o755);
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
  for (let i = 0; ; i++) {
    const up = await fetchStatus(url, ws.ca).catch(() => 0);
    if (up === 200) break;
    if (child.exitCode !== null || i > 100) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, url, ca: ws.ca, pids: () => [child.pid as number] };
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
