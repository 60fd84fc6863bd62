// `sihl serve` under load: requests per second for a device's poll of timestamp.json answered 304 and
// for a 200 fetch of it, from autocannon on the same machine, beside nginx serving the same file with the
// same certificate in the same run (when nginx is installed). Each server runs in a process of its own;
// autocannon runs in this one. Both servers get one process: sihl has no cluster mode, so nginx runs one
// worker. Everything listens on 127.0.0.1 only and is stopped at the end.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { initWorkspace } from '../src/publisher/setup.ts';
import { makeTimestamp, serialize, signerFrom, signWith } from '../src/publisher/tuf/index.ts';
import { testKey } from '../test/support/fixtures.ts';

const SIHL = fileURLToPath(new URL('../bin/sihl.js', import.meta.url));
const PATH = '/metadata/timestamp.json';
const CONNECTIONS = 32;

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Responses with another status than the one expected, and errors and timeouts. */
  readonly unexpected: number;
  readonly p99Ms: number;
}

export interface ServerRun {
  readonly poll: LoadResult;
  readonly fetch: LoadResult;
}

export interface ServeRun {
  readonly seconds: number;
  readonly connections: number;
  readonly fileBytes: number;
  readonly sihl: ServerRun;
  readonly nginx: ServerRun | { readonly skipped: string };
  readonly nginxVersion?: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
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

async function load(
  url: string,
  ca: string,
  seconds: number,
  expect: 200 | 304,
  etag?: string,
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: etag ? { 'if-none-match': etag } : {},
    tlsOptions: { ca },
  });
  const stats: Record<string, { count?: number }> = result.statusCodeStats ?? {};
  const expected = stats[String(expect)]?.count ?? 0;
  const all = Object.values(stats).reduce((n, s) => n + (s.count ?? 0), 0);
  return {
    requestsPerSecond: Math.round(expected / seconds),
    requests: expected,
    unexpected: all - expected + result.errors + result.timeouts,
    p99Ms: result.latency.p99,
  };
}

async function measure(url: string, ca: string, seconds: number): Promise<ServerRun> {
  const { etag } = await probe(url, ca);
  await load(url, ca, 1, 304, etag); // warm-up
  return { poll: await load(url, ca, seconds, 304, etag), fetch: await load(url, ca, seconds, 200) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** `nginx -v` prints its version on stderr; undefined when there is no nginx. */
function nginxVersion(): string | undefined {
  const run = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return undefined;
  return /nginx\/[\w.]+/.exec(`${run.stderr}${run.stdout}`)?.[0] ?? 'nginx';
}

export async function benchServe(
  dir: string,
  seconds: number,
  log: (line: string) => void,
): Promise<ServeRun> {
  log(`serve: a workspace with its certificate and a signed timestamp.json`);
  const workspaceDir = join(dir, 'serve-workspace');
  const workspace = await initWorkspace(workspaceDir, { passphrase: 'bench passphrase' });
  const timestamp = signWith(
    makeTimestamp({ version: 1, snapshot: { version: 1, length: 600, sha256: 'ab'.repeat(32) } }),
    [signerFrom(testKey('bench timestamp'))],
  );
  const file = serialize(timestamp);
  await mkdir(join(workspace.storeDir, 'metadata'), { recursive: true });
  await writeFile(join(workspace.storeDir, 'metadata', 'timestamp.json'), file);
  const ca = await readFile(join(workspaceDir, 'tls', 'server.crt'), 'utf8');

  const sihlPort = await freePort();
  const sihl = spawn(
    process.execPath,
    [SIHL, 'serve', '--workspace', workspaceDir, '--port', String(sihlPort)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  let sihlRun: ServerRun;
  try {
    await waitFor(`https://127.0.0.1:${sihlPort}${PATH}`, ca);
    log(`serve: sihl, ${CONNECTIONS} connections, ${seconds} s per measure`);
    sihlRun = await measure(`https://127.0.0.1:${sihlPort}${PATH}`, ca, seconds);
  } finally {
    await stop(sihl);
  }

  const version = nginxVersion();
  let nginxRun: ServeRun['nginx'] = { skipped: 'nginx is not installed (apt-get install nginx-light)' };
  if (version) {
    const nginxPort = await freePort();
    // Started as root, nginx's worker runs as another user: let it read the served folder (only that).
    for (const path of [dir, workspaceDir, workspace.storeDir, join(workspace.storeDir, 'metadata')])
      await chmod(path, 0o755);
    const prefix = join(dir, 'nginx');
    await mkdir(join(prefix, 'logs'), { recursive: true });
    const conf = join(prefix, 'nginx.conf');
    await writeFile(
      conf,
      `worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')};
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  types { application/json json; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${join(workspaceDir, 'tls', 'server.crt')};
    ssl_certificate_key ${join(workspaceDir, 'tls', 'server.key')};
    root ${workspace.storeDir};
  }
}
`,
    );
    const nginx = spawn('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      await waitFor(`https://127.0.0.1:${nginxPort}${PATH}`, ca);
      log(`serve: ${version}, the same file and certificate`);
      nginxRun = await measure(`https://127.0.0.1:${nginxPort}${PATH}`, ca, seconds);
    } finally {
      await stop(nginx);
    }
  }
  return {
    seconds,
    connections: CONNECTIONS,
    fileBytes: file.length,
    sihl: sihlRun,
    nginx: nginxRun,
    ...(version ? { nginxVersion: version } : {}),
  };
}

const grouped = (n: number) => n.toLocaleString('en-US');

export function serveSection(r: ServeRun): string {
  const nginx = 'skipped' in r.nginx ? undefined : r.nginx;
  const row = (what: string, pick: (s: ServerRun) => LoadResult) => {
    const ours = pick(r.sihl);
    const theirs = nginx ? pick(nginx) : undefined;
    return `| ${what} | ${grouped(ours.requestsPerSecond)} (p99 ${ours.p99Ms} ms) | ${
      theirs ? `${grouped(theirs.requestsPerSecond)} (p99 ${theirs.p99Ms} ms)` : '—'
    } | ${theirs ? (ours.requestsPerSecond / theirs.requestsPerSecond).toFixed(2) : '—'} |`;
  };
  const unexpected = r.sihl.poll.unexpected + r.sihl.fetch.unexpected;
  return [
    '## Serving devices: `sihl serve` beside nginx',
    '',
    `Requests per second for \`${PATH}\` (${r.fileBytes} bytes, a signed TUF timestamp) over HTTPS on
127.0.0.1: a device's poll with \`If-None-Match\` answered 304 with no body, and a 200 fetch of the
whole file. autocannon (${r.connections} keep-alive connections, ${r.seconds} s per measure after a
1 s warm-up) runs on the same 2 cores as the server, so both figures are lower than on a machine of
their own; the ratio is what counts. sihl serves from one process; nginx runs one worker with the
same certificate (ECDSA P-256) and the same folder${r.nginxVersion ? ` (${r.nginxVersion})` : ''}.`,
    '',
    '| Request | sihl serve, req/s | nginx, req/s | sihl / nginx (goal ≥ 0.8) |',
    '| --- | --: | --: | --: |',
    row('304 poll', (s) => s.poll),
    row('200 fetch', (s) => s.fetch),
    '',
    `${unexpected === 0 ? 'Every' : `All but ${unexpected}`} response from sihl had the expected status.${
      nginx ? '' : ` nginx: ${(r.nginx as { skipped: string }).skipped}.`
    }`,
  ].join('\n');
}
