// Load and crash runs against `sihl serve` as a child process (bin/sihl.js, the pinned Node):
// - poll load (poll-load.ts): N keep-alive connections from autocannon in this process, each polling
//   timestamp.json with the current ETag (the 304 every quiet device poll costs), while the server's RSS
//   is sampled;
// - crash: devices send signed reports, the server is killed with SIGKILL in the middle, and every report
//   it had acknowledged with 204 must be in logs.db afterwards.
// Used by test/load/load.test.ts (short runs) and test/load/run.ts (`npm run load`: 10,000 for 60 s).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, get, request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSignedReport } from '../../src/core/format/report.ts';
import { SECURE_ELEMENT_SECTORS } from '../../src/device/bootloader/layout.ts';
import { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { makeSignedReport } from '../../src/device/report.ts';
import { SimulatedSecureElement } from '../../src/device/secure-element/simulated-secure-element.ts';
import { openRegistry } from '../../src/publisher/registry.ts';
import { initWorkspace } from '../../src/publisher/setup.ts';
import { makeTimestamp, serialize, signerFrom, signWith } from '../../src/publisher/tuf/index.ts';
import type { Workspace } from '../../src/publisher/workspace.ts';
import { openSqliteLogStore } from '../../src/storage/sqlite-log-store.ts';
import { testKey } from '../support/fixtures.ts';

const SIHL = fileURLToPath(new URL('../../bin/sihl.js', import.meta.url));
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
export const PATH = '/metadata/timestamp.json';

export interface ServeWorkspace {
  readonly dir: string;
  readonly workspace: Workspace;
  readonly ca: string;
}

/** A workspace with its certificate and a signed timestamp.json: all a poll needs. */
export async function serveWorkspace(dir: string): Promise<ServeWorkspace> {
  // The root key goes beside the workspace, never into it: `sihl serve` refuses a folder that holds one.
  const workspace = await initWorkspace(dir, { passphrase: 'load passphrase', rootDirs: [`${dir}-root`] });
  const timestamp = signWith(
    makeTimestamp({ version: 1, snapshot: { version: 1, length: 600, sha256: 'ab'.repeat(32) } }),
    [signerFrom(testKey('load timestamp'))],
  );
  await mkdir(join(workspace.storeDir, 'metadata'), { recursive: true });
  await writeFile(join(workspace.storeDir, 'metadata', 'timestamp.json'), serialize(timestamp));
  const ca = await readFile(join(dir, 'tls', 'server.crt'), 'utf8').catch(() => '');
  return { dir, workspace, ca };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export interface Served {
  readonly child: ChildProcess;
  /** Every process of the server whose memory counts (nginx's master and workers); default the child. */
  readonly pids?: () => number[];
  readonly port: number;
  readonly url: string;
  readonly ca: string;
}

/**
 * `sihl serve` in a child process, with the open-file limit raised in its shell; resolves once it answers.
 * Without `maxConnections`, the server's own default (DEFAULT_LIMITS), as an operator would run it.
 */
export async function startServe(
  ws: ServeWorkspace,
  port?: number,
  maxConnections?: number,
): Promise<Served> {
  const at = port ?? (await freePort());
  const child = spawnNode([
    ...[SIHL, 'serve', '--workspace', ws.dir, '--port', String(at)],
    ...(maxConnections === undefined ? [] : ['--max-connections', String(maxConnections)]),
  ]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ca = ws.ca || (await waitForFile(join(ws.dir, 'tls', 'server.crt')));
  const url = `https://127.0.0.1:${at}`;
  for (let i = 0; ; i++) {
    try {
      await poll(url, ca);
      return { child, port: at, url, ca };
    } catch (error) {
      if (child.exitCode !== null || i > 100) throw new Error(`sihl serve did not start: ${stderr || error}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The pinned Node running `args` in a child process, with the open-file limit raised in its shell. */
export function spawnNode(args: readonly string[]): ChildProcess {
  const command = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';
  return spawn('bash', ['-c', command, NODE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} never appeared`);
}

export function poll(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}${PATH}`, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve(String(res.headers.etag)) : reject(new Error(`${res.statusCode}`)),
      );
    });
    req.on('error', reject);
  });
}

export function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface CrashResult {
  readonly sent: number;
  readonly acknowledged: number;
  readonly stored: number;
  /** Acknowledged with 204 but not in logs.db after the kill: must be empty. */
  readonly lost: string[];
}

/** Registers `count` simulated devices straight into the workspace registry (their keys made inside). */
export function registerDevices(ws: ServeWorkspace, count: number): SimulatedSecureElement[] {
  const registry = openRegistry(ws.workspace.registryPath);
  const elements: SimulatedSecureElement[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sectorSize = 4096;
      const flash = new SimulatedFlash({
        size: SECURE_ELEMENT_SECTORS * sectorSize,
        sectorSize,
        writeSize: 8,
      });
      const element = SimulatedSecureElement.provision(
        flash,
        { offset: 0, size: flash.geometry.size },
        { keys: [testKey('load root').publicKey], threshold: 1 },
      );
      const { sign, box } = element.identity();
      registry.provision({ sign, box, model: 'movehub', owner: 'ACME', now: Math.floor(Date.now() / 1000) });
      elements.push(element);
    }
  } finally {
    registry.close();
  }
  return elements;
}

/**
 * Each device sends signed reports one after another (seq 1, 2, …) until the server is killed with
 * SIGKILL after `killAfterMs`; then logs.db is opened and every report acknowledged with 204 looked up.
 */
export async function crashWhileReporting(
  ws: ServeWorkspace,
  served: Served,
  elements: SimulatedSecureElement[],
  killAfterMs: number,
): Promise<CrashResult> {
  const agent = new Agent({ keepAlive: true, ca: served.ca, maxSockets: 64 });
  const acknowledged = new Set<string>();
  let sent = 0;
  let dead = false;
  const send = (body: Uint8Array) =>
    new Promise<number>((resolve) => {
      const req = request(
        `${served.url}/v1/reports`,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const device = async (element: SimulatedSecureElement) => {
    for (let seq = 1; !dead; seq++) {
      const report = makeSignedReport(element, {
        seq,
        time: Math.floor(Date.now() / 1000),
        model: 'movehub',
        running: '7.27.0',
        outcome: 'booted',
      });
      sent++;
      const status = await send(report);
      if (status === 204) acknowledged.add(`${decodeSignedReport(report).report.device}:${seq}`);
      else if (status === 429) await new Promise((r) => setTimeout(r, 50));
      else if (status === 0) return;
    }
  };
  const running = Promise.all(elements.map(device));
  await new Promise((r) => setTimeout(r, killAfterMs));
  await stop(served.child, 'SIGKILL');
  dead = true;
  await running;
  agent.destroy();
  const stored = new Set<string>();
  const logStore = openSqliteLogStore(join(ws.dir, 'logs.db'));
  try {
    for await (const entry of logStore.query({})) {
      const report = decodeSignedReport(entry.report).report;
      stored.add(`${report.device}:${report.seq}`);
    }
  } finally {
    await logStore.close();
  }
  return {
    sent,
    acknowledged: acknowledged.size,
    stored: stored.size,
    lost: [...acknowledged].filter((k) => !stored.has(k)),
  };
}
