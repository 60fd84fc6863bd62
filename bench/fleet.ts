// A fleet updating at once (issue 7): 10,000 simulated devices by default, provisioned into a fresh
// workspace before Pybricks 7.28.0 is published to all of them, then `sihl sim fleet` running them
// against `sihl serve`, each in a process of its own, so the server's CPU time and peak RSS are its own
// (read from /proc on Linux) and so are the simulator's. Both stop at the end.
// Alone: `node bench/fleet.ts [DEVICES]` prints the section.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetRun } from '../src/cli/commands/sim-fleet.ts';
import { main } from '../src/cli/main.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../test/support/fixtures.ts';

const SIHL = fileURLToPath(new URL('../bin/sihl.js', import.meta.url));
export const FLEET_DEVICES = 10_000;
const HUB = 'movehub';
const INTERVAL = 10;
const CONCURRENCY = 32;
const ENV = { ...process.env, SIHL_PASSPHRASE: 'bench passphrase' };

export interface FleetBenchRun {
  readonly devices: number;
  readonly interval: number;
  readonly concurrency: number;
  readonly provisionSeconds: number;
  readonly publishSeconds: number;
  readonly run: Omit<FleetRun, 'devices'>;
  /** CPU time and peak RSS of `sihl serve` during the run; null where /proc cannot tell. */
  readonly server: { readonly cpuMs: number | null; readonly peakRssKiB: number | null };
}

async function sihl(cwd: string, args: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) }, { cwd, env: ENV });
  if (code !== 0) throw new Error(`sihl ${args.join(' ')}: exit ${code}\n${err.join('\n')}${out.join('\n')}`);
  return out.join('\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, ca: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      get(url, { ca }, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** utime + stime of a process, in ms, from /proc (Linux). */
async function cpuMsOf(pid: number): Promise<number | null> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
    return Math.round(((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS);
  } catch {
    return null;
  }
}

async function peakRssKiBOf(pid: number): Promise<number | null> {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function simulate(args: string[]): Promise<FleetRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIHL, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: ENV,
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`sihl sim fleet: exit ${code}\n${out.slice(0, 2000)}`));
      else resolve(JSON.parse(out) as FleetRun);
    });
  });
}

export async function benchFleet(
  dir: string,
  devices: number,
  log: (line: string) => void,
): Promise<FleetBenchRun> {
  const cwd = join(dir, 'fleet');
  await sihl(dir, ['init', 'fleet', '--root-dir', 'fleet-root']); // the root key outside the workspace
  const ws = ['--workspace', cwd];
  const root = ['--root-key', join(dir, 'fleet-root', 'root-1.key')];
  await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...root, ...ws]);
  await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'bob', ...root, ...ws]);
  await writeFile(join(dir, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, HUB));
  await writeFile(join(dir, 'new.bin'), await pybricksFirmware(PYBRICKS, HUB));
  log(`fleet: provisioning ${devices} simulated ${HUB}s`);
  let started = performance.now();
  const provision = ['sim', 'fleet', '--devices', String(devices), '--provision-only', '--model', HUB];
  await sihl(dir, [...provision, '--firmware', 'old.bin', '--version', '7.27.0', ...ws]);
  const provisionSeconds = (performance.now() - started) / 1000;
  log(`fleet: provisioned in ${provisionSeconds.toFixed(1)} s; publishing 7.28.0 to all`);
  started = performance.now();
  await sihl(dir, ['release', 'create', 'new.bin', '--model', HUB, '--version', '7.28.0', ...ws]);
  await sihl(dir, ['release', 'approve', `${HUB}-7.28.0`, '--key', 'alice', ...ws]);
  await sihl(dir, ['release', 'approve', `${HUB}-7.28.0`, '--key', 'bob', ...ws]);
  await sihl(dir, ['release', 'publish', `${HUB}-7.28.0`, '--rollout', '100', ...ws]);
  const publishSeconds = (performance.now() - started) / 1000;

  const port = await freePort();
  const server = spawn(process.execPath, [SIHL, 'serve', '--port', String(port), ...ws], {
    stdio: 'ignore',
    env: ENV,
  });
  const pid = server.pid as number;
  try {
    const ca = await readFile(join(cwd, 'tls', 'server.crt'), 'utf8');
    const url = `https://127.0.0.1:${port}/`;
    await waitFor(`${url}metadata/timestamp.json`, ca);
    log(`fleet: ${devices} devices updating from ${url} (sihl serve, process ${pid})`);
    const cpuBefore = await cpuMsOf(pid);
    const run = await simulate([
      'sim',
      'fleet',
      '--devices',
      String(devices),
      '--server',
      url,
      '--interval',
      String(INTERVAL),
      '--concurrency',
      String(CONCURRENCY),
      '--deadline',
      '3600',
      '--json',
      ...ws,
    ]);
    const cpuAfter = await cpuMsOf(pid);
    const peak = await peakRssKiBOf(pid);
    const { devices: _outcomes, ...summary } = run;
    log(
      `fleet: ${run.updated} of ${run.total} updated in ${(run.wallMs / 1000).toFixed(1)} s, 90 % at ${((run.timeTo.p90 ?? 0) / 1000).toFixed(1)} s`,
    );
    return {
      devices,
      interval: INTERVAL,
      concurrency: CONCURRENCY,
      provisionSeconds,
      publishSeconds,
      run: summary,
      server: {
        cpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
        peakRssKiB: peak,
      },
    };
  } finally {
    await stop(server);
  }
}

const grouped = (n: number) => n.toLocaleString('en-US');
const s = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
const mib = (kib: number | null) => (kib === null ? 'n/a' : `${(kib / 1024).toFixed(0)} MiB`);

export function fleetSection(r: FleetBenchRun): string {
  const { run } = r;
  return [
    '## A fleet updating',
    '',
    `\`sihl sim fleet\` (src/device/simulator/fleet.ts): ${grouped(r.devices)} simulated Move Hubs running Pybricks
7.27.0, provisioned before 7.28.0 was published to all of them, update through \`sihl serve\` on 127.0.0.1.
Server and simulator each run in a process of their own (one Node thread each). Every device runs the
real agent: TLS with the pinned certificate, a TUF refresh with tuf-js, its own envelope, the image in
16 KiB ranges into its simulated flash, the signature check, a reboot through the bootloader (verify,
decrypt, decompress, install), and two signed reports (booted, installed). Devices poll every
${r.interval} s (the first poll at random within that), at most ${r.concurrency} awake at once, each from its own
loopback address. Provisioning took ${r.provisionSeconds.toFixed(1)} s, publishing ${r.publishSeconds.toFixed(1)} s.`,
    '',
    '| Devices | Updated | Wall time | 50 % | 90 % | 100 % | Requests | Received | Server CPU | Server peak RSS | Simulator CPU | Simulator peak RSS |',
    '| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
    `| ${grouped(r.devices)} | ${grouped(run.updated)} | ${s(run.wallMs)} | ${s(run.timeTo.p50)} | ${s(run.timeTo.p90)} | ${s(run.timeTo.p100)} | ${grouped(run.requests)} | ${(run.bytes / 1048576).toFixed(0)} MiB | ${s(r.server.cpuMs)} | ${mib(r.server.peakRssKiB)} | ${s(run.cpuMs)} | ${mib(run.peakRssKiB)} |`,
    '',
    `The simulator is the bottleneck: one thread does every device's TLS, TUF, hashing and install, so the
updates are spread over its CPU time; the server answered ${grouped(run.requests)} requests in the CPU time shown.
Status reports not yet accepted at the end: ${grouped(run.undelivered)}.`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const devices = Number(process.argv[2] ?? FLEET_DEVICES);
  const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-fleet-'));
  try {
    const result = await benchFleet(dir, devices, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(`${fleetSection(result)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
