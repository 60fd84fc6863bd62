// Memory per held connection, four servers in one run: `sihl serve` alone (its default limits), Node's
// own HTTPS server answering the same file (bench/bare-https.ts: the floor under sihl), nginx alone (one
// worker) and nginx in front of sihl (the configuration `sihl nginx-config` writes, one worker, `sihl
// serve` behind it; both processes counted). Each gets the same fleet (test/load/held.ts): `connections`
// TLS keep-alive connections opened 200 at a time, each polling timestamp.json with its ETag every 1 to
// 2 s, held for `seconds` once all are up; every connection stays open to the end (a closed one counts
// as failed). RSS comes from /proc. `node bench/memory.ts [--write] [--connections N] [--seconds S]` runs
// the serving section (bench/serve.ts) and this one together, so both come from one run, and with
// --write replaces those two sections of docs/BENCHMARKS.md; `npm run bench` runs them among the rest.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type HeldResult, heldConnections } from '../test/load/held.ts';
import {
  freePort,
  poll,
  type Served,
  serveWorkspace,
  spawnNode,
  startServe,
  stop,
} from '../test/load/load.ts';
import { startInFront, startNginxBeside } from '../test/load/nginx.ts';
import { benchServe, nginxVersion, serveSection } from './serve.ts';

const BARE = fileURLToPath(new URL('./bare-https.ts', import.meta.url));
const DOCUMENT = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));
export const SERVE_HEADING = '## Serving devices: `sihl serve`, nginx, and nginx in front of sihl';
export const MEMORY_HEADING =
  '## Memory per connection: `sihl serve`, Node, nginx, and nginx in front of sihl';

export type MemoryServerName = 'sihl' | 'node' | 'nginx' | 'inFront';

export interface MemoryServer {
  readonly name: MemoryServerName;
  readonly held: HeldResult;
  /** The one-minute load average when its connections began to open, and when they were closed. */
  readonly load: readonly [number, number];
}

export interface MemoryRun {
  readonly connections: number;
  readonly seconds: number;
  readonly date: string;
  readonly nginxVersion?: string;
  readonly servers: readonly MemoryServer[];
  /** What could not be measured here, and why. */
  readonly skipped?: string;
}

/** Node's HTTPS server and nothing of sihl's, on the same certificate and file. */
async function startBareNode(ws: Awaited<ReturnType<typeof serveWorkspace>>): Promise<Served> {
  const port = await freePort();
  const tls = join(ws.dir, 'tls');
  const file = join(ws.workspace.storeDir, 'metadata', 'timestamp.json');
  const args = [BARE, String(port), join(tls, 'server.key'), join(tls, 'server.crt'), file];
  const child = spawnNode(args);
  const url = `https://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await poll(url, ws.ca);
      return { child, port, url, ca: ws.ca };
    } catch (error) {
      if (child.exitCode !== null || i > 100) throw new Error(`bench/bare-https.ts did not start: ${error}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const oneMinute = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;

export async function benchMemory(
  dir: string,
  connections: number,
  seconds: number,
  log: (line: string) => void,
): Promise<MemoryRun> {
  const ws = await serveWorkspace(join(dir, 'memory-workspace'));
  const version = nginxVersion();
  type Start = [MemoryServerName, () => Promise<Served & { stop?: () => Promise<void> }>];
  const starts: Start[] = [
    ['sihl', () => startServe(ws)],
    ['node', () => startBareNode(ws)],
  ];
  if (version)
    starts.push(['nginx', () => startNginxBeside(ws, connections)], ['inFront', () => startInFront(ws)]);
  const servers: MemoryServer[] = [];
  for (const [name, start] of starts) {
    log(`memory: ${LABELS[name]}, ${connections} held connections for ${seconds} s`);
    const served = await start();
    try {
      const before = oneMinute();
      const held = await heldConnections(served, connections, seconds);
      servers.push({ name, held, load: [before, oneMinute()] });
    } finally {
      await (served.stop?.() ?? stop(served.child, name === 'nginx' ? 'SIGQUIT' : 'SIGTERM'));
    }
  }
  return {
    connections,
    seconds,
    date: new Date().toISOString().slice(0, 10),
    ...(version
      ? { nginxVersion: version }
      : { skipped: 'nginx is not installed (apt-get install nginx-light)' }),
    servers,
  };
}

const LABELS: Record<MemoryServerName, string> = {
  sihl: '`sihl serve` alone',
  node: "Node's HTTPS server (bench/bare-https.ts)",
  nginx: 'nginx alone, one worker',
  inFront: 'nginx in front of sihl (nginx + sihl)',
};

const kib = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : `${n.toFixed(1)} KiB`);
const mib = (n: number) =>
  `${n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MiB`;
const times = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '—';

function row(s: MemoryServer, connections: number): string {
  const h = s.held;
  const k = h.kibPerConnection;
  const total = (h.rssEndMiB * 1024) / connections;
  return `| ${LABELS[s.name]} | ${mib(h.rssIdleMiB)} | ${kib(k['10s'])} | ${kib(k['30s'])} | ${kib(k['60s'])} | ${mib(h.rssEndMiB)} (${kib(total)} each) | ${h.openSeconds} s | ${h.polls.toLocaleString('en-US')} | ${h.failed} | ${s.load[0]} → ${s.load[1]} |`;
}

/** What the figures say, computed from them: sihl against Node's floor, flatness, nginx ratios. */
function findings(r: MemoryRun): string {
  const at = (name: MemoryServerName) => r.servers.find((s) => s.name === name)?.held.kibPerConnection;
  const last = r.seconds >= 60 ? '60s' : r.seconds >= 30 ? '30s' : '10s';
  const [sihl, node, nginx, front] = [at('sihl'), at('node'), at('nginx'), at('inFront')];
  const flat = sihl?.['10s'] ? `${(((sihl[last] ?? Number.NaN) / sihl['10s'] - 1) * 100).toFixed(1)} %` : '—';
  const lines = [
    `At ${last.replace('s', ' s')}, \`sihl serve\` alone holds ${times(sihl?.[last], node?.[last])} the memory per connection of Node's own HTTPS server answering the same polls (its floor), and ${flat} more than at 10 s.`,
  ];
  if (nginx && front)
    lines.push(
      `nginx in front of sihl holds ${times(front[last], nginx[last])} nginx alone's memory per connection (the goal: at most 2×), and \`sihl serve\` alone ${times(sihl?.[last], nginx[last])}.`,
    );
  return lines.join(' ');
}

export function memorySection(r: MemoryRun): string {
  return [
    MEMORY_HEADING,
    '',
    `From one run on ${r.date}: ${r.connections.toLocaleString('en-US')} devices each hold a TLS keep-alive
connection, opened 200 at a time, and poll \`timestamp.json\` with their ETag every 1 to 2 s
(test/load/held.ts). The bench closes none of them before the end: "failed" counts answers other than
304 and connections the server closed (its 5 s keep-alive, when a poll came late on the busy cores), so
the memory is that of connections actually held. RSS of the server's processes from /proc, above the idle server, per connection, at 10, 30 and
60 s after the last connection opened. \`sihl serve\` runs with its default limits; Node's HTTPS server
is bench/bare-https.ts (no sihl code, the same TLS settings, answering the same file), the floor under
sihl; nginx${r.nginxVersion ? ` (${r.nginxVersion})` : ''} has one worker; nginx in front of sihl is the
configuration \`sihl nginx-config\` writes, one worker, with \`sihl serve\` behind it, both processes
counted (polls never reach sihl). Same certificate (ECDSA P-256), same file. The load average is the
machine's one-minute figure when the connections began to open and when they were closed; the machine
has two cores shared with other work, which slows the opening but hardly moves memory.`,
    '',
    '| Server | idle RSS | 10 s | 30 s | 60 s | RSS at the end | connections opened in | polls | failed | load average |',
    '| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
    ...r.servers.map((s) => row(s, r.connections)),
    '',
    `${findings(r)}${r.skipped ? ` Not measured: ${r.skipped}.` : ''} docs/SERVER.md §Memory says where the memory goes.`,
  ].join('\n');
}

/** Replaces the section under `heading` (to the next `## `) with `text`. */
export function replaceSection(doc: string, heading: string, text: string): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading.slice(0, 24)));
  if (start < 0) throw new Error(`docs/BENCHMARKS.md has no "${heading}": run the full bench`);
  let end = start + 1;
  while (end < lines.length && !lines[end]?.startsWith('## ')) end++;
  return [...lines.slice(0, start), ...text.split('\n'), '', ...lines.slice(end)].join('\n');
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      write: { type: 'boolean', default: false },
      connections: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '60' },
      'serve-seconds': { type: 'string', default: '10' },
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-memory-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const serve = serveSection(await benchServe(dir, Number(values['serve-seconds']), log));
    const memory = memorySection(
      await benchMemory(dir, Number(values.connections), Number(values.seconds), log),
    );
    process.stdout.write(`${serve}\n\n${memory}\n`);
    if (values.write) {
      const doc = await readFile(DOCUMENT, 'utf8');
      await writeFile(
        DOCUMENT,
        replaceSection(replaceSection(doc, SERVE_HEADING, serve), MEMORY_HEADING, memory),
      );
      log(`updated ${DOCUMENT}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
