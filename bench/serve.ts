// Serving devices under load, three ways in one run: `sihl serve` alone, nginx alone (one worker, the
// same file and certificate) and nginx in front of sihl (the configuration `sihl nginx-config` writes,
// one worker, `sihl serve` behind it), each driven by wrk (bench/wrk.ts) with its CPU time and the
// server's counted. Every server runs in processes of its own, listens on 127.0.0.1 only and is stopped
// at the end. `node bench/serve.ts [SECONDS]` runs this section alone.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, serveWorkspace } from '../test/load/load.ts';
import { letNginxRead, writeFrontConfig } from '../test/load/nginx.ts';
import { runWrk, WRK, type WrkResult } from './wrk.ts';

const SIHL = fileURLToPath(new URL('../bin/sihl.js', import.meta.url));
const PATH = '/metadata/timestamp.json';
const CONNECTIONS = 32;

export interface ServerRun {
  readonly poll: WrkResult;
  readonly fetch: WrkResult;
}

export interface ServeRun {
  readonly seconds: number;
  readonly connections: number;
  readonly fileBytes: number;
  readonly sihl?: ServerRun;
  readonly nginx?: ServerRun;
  /** nginx with the configuration `sihl nginx-config` writes, `sihl serve` behind it. */
  readonly inFront?: ServerRun;
  readonly nginxVersion?: string;
  /** What could not be measured here, and why. */
  readonly skipped?: string;
}

/** The ETag the server gives the file, and the file's bytes as served. */
function probe(url: string, ca: string): Promise<{ etag: string; length: number }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca }, (response) => {
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
      });
      response.on('end', () => {
        const etag = response.headers.etag;
        if (response.statusCode !== 200 || !etag)
          reject(new Error(`${url}: ${response.statusCode}, no ETag`));
        else resolve({ etag, length });
      });
    });
    request.on('error', reject);
  });
}

async function waitFor(url: string, ca: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await probe(url, ca);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer`);
}

async function measure(url: string, ca: string, seconds: number, serverPids: number[]): Promise<ServerRun> {
  const { etag } = await probe(url, ca);
  const base = { connections: CONNECTIONS, serverPids };
  await runWrk(url, { ...base, seconds: 1, headers: { 'if-none-match': etag } }); // warm-up
  return {
    poll: await runWrk(url, { ...base, seconds, headers: { 'if-none-match': etag } }),
    fetch: await runWrk(url, { ...base, seconds }),
  };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** `nginx -v` prints its version on stderr; undefined when there is no nginx. */
export function nginxVersion(): string | undefined {
  const run = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return undefined;
  return /nginx\/[\w.]+/.exec(`${run.stderr}${run.stdout}`)?.[0] ?? 'nginx';
}

/** A server process in the background, stopped by `stop`. */
function start(command: string, args: string[]): ChildProcess {
  return spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A bare nginx: one worker, the store folder, the same certificate; the reference web server. */
function bareNginx(prefix: string, port: number, workspaceDir: string, storeDir: string): string {
  return `worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')};
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  types { application/json json; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(workspaceDir, 'tls', 'server.crt')};
    ssl_certificate_key ${join(workspaceDir, 'tls', 'server.key')};
    root ${storeDir};
  }
}
`;
}

/** Runs `servers` (their pids are the measured ones), waits until `url` answers, measures, stops them. */
async function withServers(
  servers: ChildProcess[],
  url: string,
  ca: string,
  seconds: number,
): Promise<ServerRun> {
  try {
    await waitFor(url, ca);
    return await measure(
      url,
      ca,
      seconds,
      servers.map((s) => s.pid as number),
    );
  } finally {
    for (const server of servers) await stop(server);
  }
}

export async function benchServe(
  dir: string,
  seconds: number,
  log: (line: string) => void,
): Promise<ServeRun> {
  log(`serve: a workspace with its certificate and a signed timestamp.json`);
  const { dir: workspaceDir, workspace, ca } = await serveWorkspace(join(dir, 'serve-workspace'));
  const file = await readFile(join(workspace.storeDir, 'metadata', 'timestamp.json'));
  const at = (port: number) => `https://127.0.0.1:${port}${PATH}`;
  const common = { seconds, connections: CONNECTIONS, fileBytes: file.length };
  if (!existsSync(WRK)) return { ...common, skipped: 'wrk is not installed (apt-get install wrk)' };

  const sihlPort = await freePort();
  const serveArgs = (port: number) => [SIHL, 'serve', '--workspace', workspaceDir, '--port', String(port)];
  log(`serve: sihl alone, wrk with ${CONNECTIONS} connections, ${seconds} s per measure`);
  const sihl = await withServers([start(process.execPath, serveArgs(sihlPort))], at(sihlPort), ca, seconds);

  const version = nginxVersion();
  if (!version) return { ...common, sihl, skipped: 'nginx is not installed (apt-get install nginx-light)' };
  await letNginxRead(workspaceDir, workspace.storeDir);
  const prefix = join(dir, 'nginx');
  await mkdir(prefix, { recursive: true });
  const bare = join(prefix, 'bare.conf');
  const nginxPort = await freePort();
  await writeFile(bare, bareNginx(prefix, nginxPort, workspaceDir, workspace.storeDir));
  log(`serve: ${version} alone, the same file and certificate`);
  const nginx = await withServers(
    [start('nginx', ['-p', prefix, '-c', bare, '-g', 'daemon off;'])],
    at(nginxPort),
    ca,
    seconds,
  );

  // nginx in front of sihl: the configuration \`sihl nginx-config\` writes, one worker, sihl behind it.
  const [frontPort, upstreamPort] = [await freePort(), await freePort()];
  const front = join(prefix, 'front.conf');
  writeFrontConfig(front, workspaceDir, join(prefix, 'front'), { port: frontPort, upstreamPort });
  log(`serve: ${version} in front of sihl (sihl nginx-config), one worker`);
  const inFront = await withServers(
    [start(process.execPath, serveArgs(upstreamPort)), start('nginx', ['-c', front, '-g', 'daemon off;'])],
    at(frontPort),
    ca,
    seconds,
  );
  return { ...common, sihl, nginx, inFront, nginxVersion: version };
}

const grouped = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '—');

/** Each server's figures as a share of nginx alone's, on the same run. */
function ratios(r: ServeRun): string {
  const { nginx } = r;
  if (!nginx) return '';
  const of = (run: ServerRun, kind: 'poll' | 'fetch', key: 'requestsPerSecond' | 'perCpuSecond') =>
    (run[kind][key] / nginx[kind][key]).toFixed(2);
  const says = (name: string, run: ServerRun | undefined) =>
    run
      ? ` ${name} answers ${of(run, 'poll', 'requestsPerSecond')}× nginx's polls a second and ${of(run, 'fetch', 'requestsPerSecond')}× its fetches, at ${of(run, 'poll', 'perCpuSecond')}× and ${of(run, 'fetch', 'perCpuSecond')}× its requests per CPU-second.`
      : '';
  return `${says('sihl alone', r.sihl)}${says('nginx in front of sihl', r.inFront)}`;
}

export function serveSection(r: ServeRun): string {
  const servers: [string, ServerRun | undefined][] = [
    ['sihl serve alone', r.sihl],
    [`nginx alone${r.nginxVersion ? ` (${r.nginxVersion})` : ''}`, r.nginx],
    ['nginx in front of sihl', r.inFront],
  ];
  const rows = servers.flatMap(([name, run]) =>
    run
      ? (['poll', 'fetch'] as const).map((kind) => {
          const w = run[kind];
          return `| ${name} | ${kind === 'poll' ? '304 poll' : '200 fetch'} | ${grouped(w.requestsPerSecond)} | ${grouped(w.perCpuSecond)} | ${w.serverCpuS.toFixed(1)} s | ${w.wrkCpuS.toFixed(1)} s of ${w.seconds.toFixed(1)} s | ${w.p99Ms} ms | ${w.loadAverage} |`;
        })
      : [],
  );
  const unexpected = servers.reduce(
    (n, [, run]) => n + (run ? run.poll.unexpected + run.fetch.unexpected : 0),
    0,
  );
  return [
    '## Serving devices: `sihl serve`, nginx, and nginx in front of sihl',
    '',
    `\`${PATH}\` (${r.fileBytes} bytes, a signed TUF timestamp) over HTTPS on 127.0.0.1: a device's poll
with \`If-None-Match\` answered 304, and a 200 fetch of the whole file. wrk (one thread, ${r.connections}
keep-alive connections, ${r.seconds} s per measure after a 1 s warm-up) shares the machine's cores with the
server, so its own CPU time is shown: when wrk's CPU time nears the wall time, the load generator is the
limit, not the server. Requests per CPU-second divide the requests answered by the CPU time of the
server's processes (sihl's one process; nginx's master and its one worker; with nginx in front of sihl,
both, though polls and fetches never reach sihl). Same certificate (ECDSA P-256), same folder.
Earlier runs of this section used autocannon, a Node client that saturated before nginx did; their ratios
(0.86 and 0.88) measured the client, not the servers, and are not comparable with these.`,
    '',
    '| Server | Request | req/s | req per CPU-second | server CPU | wrk CPU | p99 | load average |',
    '| --- | --- | --: | --: | --: | --: | --: | --: |',
    ...rows,
    '',
    `${unexpected === 0 ? 'Every response had the expected status.' : `${unexpected} responses were errors or had another status.`}${
      r.skipped ? ` Not measured: ${r.skipped}.` : ''
    } The load average is the machine's one-minute figure as each measure began.${ratios(r)}`,
  ].join('\n');
}

if (import.meta.main) {
  const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-serve-'));
  try {
    const run = await benchServe(dir, Number(process.argv[2] ?? 10), (line) =>
      process.stderr.write(`${line}\n`),
    );
    process.stdout.write(`${serveSection(run)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
