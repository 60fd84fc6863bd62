// Debian's nginx, started by a test from a configuration `sihl nginx-config` wrote, in the foreground
// (so the test owns its process), and stopped after the test. Without nginx the tests that need it skip
// with a message, unless SIHL_REQUIRE_NGINX is set (.ci/run sets it after installing nginx): then they fail.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { after } from 'node:test';

export const NGINX = '/usr/sbin/nginx';

/** Why nginx tests cannot run here, or false when they can (and must). */
export function nginxMissing(): string | false {
  if (existsSync(NGINX)) return false;
  if (process.env.SIHL_REQUIRE_NGINX) throw new Error(`${NGINX} is missing: install Debian's nginx-light`);
  return `${NGINX} is not installed here (apt-get install nginx-light); .ci/run installs it and runs this test`;
}

/** A port free on 127.0.0.1 just now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

async function accepting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    }).then((up) => up);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts nginx in the foreground with `config`; stopped (SIGTERM, then SIGKILL) after the test. */
export async function startNginx(config: string, port: number): Promise<ChildProcess> {
  const child = spawn(NGINX, ['-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  after(async () => stopNginx(child, exited));
  await Promise.race([
    accepting(port, Date.now() + 10_000),
    exited.then(() => Promise.reject(new Error(`nginx exited: ${stderr}`))),
  ]);
  return child;
}

async function stopNginx(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Fast shutdown: SIGQUIT's graceful one waits out idle keep-alive connections, seconds per test file.
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
