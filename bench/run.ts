// `npm run bench`: pack, verify, unpack and install throughput and peak memory on firmware-like inputs,
// each step in its own process beside Brotli alone, then the compression of the Pybricks corpus, then
// key envelopes for 1,000,000 devices (bench/publish.ts; 100,000 with --quick), then `sihl serve` beside
// nginx (bench/serve.ts), then memory per held connection of sihl, Node, nginx and nginx in front of sihl
// (bench/memory.ts; 2,000 connections for 10 s with --quick), then publishing to Azurite and s3rver (bench/cloud.ts), then 10,000 simulated
// devices updating through `sihl serve` (bench/fleet.ts; 1,000 with --quick), then LZMA2 beside Brotli and
// xz on the corpus with the C decoder's RAM (bench/lzma2.ts), then the C bootloader on a
// Cortex-M4 in QEMU (bench/cortex-m4.ts). Prints Markdown on
// stdout (progress on stderr); `--write` also writes docs/BENCHMARKS.md. `--device` measures only
// decode alone and the install (bench/device.ts) and, with `--write`, replaces only their figures.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIMITS } from '../src/core/limits.ts';
import { pybricksCorpus } from '../test/support/fixtures.ts';
import { benchCloud } from './cloud.ts';
import { compareCorpus, xzVersion } from './corpus.ts';
import { benchCortexM4 } from './cortex-m4.ts';
import { benchDevice, deviceResults, updateDocument } from './device.ts';
import { benchFleet, FLEET_DEVICES } from './fleet.ts';
import { hashFile, writeFirmwareLike } from './input.ts';
import { benchLzma2 } from './lzma2.ts';
import { benchMemory } from './memory.ts';
import { benchPublish, FLEET } from './publish.ts';
import {
  type DeviceStep,
  document,
  type Machine,
  results,
  type SizeRun,
  type Step,
  sizeLabel,
} from './report.ts';
import { benchServe } from './serve.ts';
import type { Operation, WorkerResult } from './worker.ts';

const MIB = 1024 * 1024;
const DEFAULT_SIZES = [16 * MIB, 1024 * MIB];
const QUICK_MAX = 16 * MIB;
/** Steps on inputs this small take about a second, so each runs three times and the median counts. */
const REPEAT_UP_TO = 64 * MIB;
const REPEATS = 3;
/** A simulated device keeps its whole flash (two slots) in memory, so installs stop at this size. */
const INSTALL_UP_TO = 64 * MIB;
/** Input, scratch file, image and output can all exist at once; ask for room to spare. */
const DISK_FACTOR = 4;
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const DOCUMENT = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));

const log = (line: string) => process.stderr.write(`${line}\n`);
/** The worker running now, stopped if the benchmark is interrupted. */
let running: ChildProcess | undefined;

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new Error(`cannot read "${text}" as a size (try 16M or 1G)`);
  const unit = { '': 1, K: 1024, M: MIB, G: 1024 * MIB }[(match[2] ?? '').toUpperCase()] ?? 1;
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1 || bytes > LIMITS.plaintextBytes) throw new Error(`size "${text}" is outside 1 byte..4 GiB`);
  return bytes;
}

function options(argv: readonly string[]): { write: boolean; device: boolean; sizes: number[] } {
  const known = new Set(['--write', '--quick', '--device']);
  const unknown = argv.filter((a) => !known.has(a));
  if (unknown.length > 0)
    throw new Error(`unknown argument ${unknown.join(' ')}; use --write, --quick and/or --device`);
  const env = process.env.SIHL_BENCH_SIZES;
  const sizes = env
    ? env
        .split(',')
        .filter((s) => s.trim() !== '')
        .map(parseSize)
    : DEFAULT_SIZES;
  const device = argv.includes('--device');
  return {
    write: argv.includes('--write'),
    device,
    sizes: sizes.filter((s) => s <= (device ? INSTALL_UP_TO : argv.includes('--quick') ? QUICK_MAX : s)),
  };
}

/** Runs one operation in a fresh Node process and returns what it reported. */
function measure(operation: Operation, ...paths: string[]): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, operation, ...paths], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    running = child;
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running = undefined;
      if (code !== 0) {
        reject(new Error(`worker ${operation} failed (${signal ?? `exit code ${code}`})`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as WorkerResult);
      } catch (error) {
        reject(new Error(`worker ${operation} printed no result: ${out}`, { cause: error }));
      }
    });
  });
}

/** The run with the median time (the middle one of three; the only one of one). */
function median(tries: readonly WorkerResult[]): WorkerResult {
  const sorted = [...tries].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor(sorted.length / 2)] as WorkerResult;
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

async function benchSize(
  dir: string,
  size: number,
  corpus: ReadonlyMap<string, Uint8Array>,
): Promise<SizeRun> {
  const label = sizeLabel(size);
  const free = await freeBytes(dir);
  if (free < DISK_FACTOR * size) {
    const skipped = `${sizeLabel(free)} free in ${tmpdir()}, ${sizeLabel(DISK_FACTOR * size)} needed`;
    log(`${label}: skipped (${skipped})`);
    return { size, skipped };
  }
  const input = join(dir, `input-${size}.bin`);
  const compressed = join(dir, `input-${size}.br`);
  const image = join(dir, `image-${size}.sihl`);
  const output = join(dir, `output-${size}.bin`);
  log(`${label}: writing the firmware-like input`);
  const digest = await writeFirmwareLike(input, size, corpus);
  const step = async (name: Step | DeviceStep, ...paths: string[]): Promise<WorkerResult> => {
    const tries: WorkerResult[] = [];
    for (let i = 0; i < (size <= REPEAT_UP_TO ? REPEATS : 1); i++) {
      log(`${label}: ${name}${i > 0 ? ` (run ${i + 1})` : ''}`);
      if (name === 'pack') await rm(image, { force: true });
      const result = await measure(name, ...paths);
      log(
        `${label}: ${name} took ${result.seconds.toFixed(2)} s, peak RSS ${(result.maxRssKiB / 1024).toFixed(0)} MiB`,
      );
      tries.push(result);
    }
    return median(tries);
  };
  try {
    const compress = await step('compress', input, compressed);
    const decompress = await step('decompress', compressed, output);
    if (decompress.bytes !== size)
      throw new Error(`Brotli alone decompressed to ${decompress.bytes} bytes, not ${size}`);
    await rm(compressed);
    await rm(output);
    const pack = await step('pack', input, image);
    const verify = await step('verify', image);
    const unpack = await step('unpack', image, output);
    log(`${label}: comparing the unpacked output with the input`);
    const unpacked = await hashFile(output);
    if (unpacked !== digest)
      throw new Error(
        `${label}: unpacked output differs from the input (SHA-256 ${unpacked}, not ${digest})`,
      );
    await rm(output);
    const decode = await step('decode', image);
    // The install worker checks the executable slot against the input itself.
    const install = size <= INSTALL_UP_TO ? await step('install', image, input) : undefined;
    return {
      size,
      steps: { compress, decompress, pack, verify, unpack, decode },
      ...(install ? { install } : {}),
    };
  } finally {
    for (const path of [input, compressed, image, `${image}.envelope`, output])
      await rm(path, { force: true });
  }
}

function machine(xz: string | null): Machine {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memory: totalmem(),
    os: `${type()} ${release()} ${process.arch}`,
    node: process.version,
    brotli: process.versions.brotli ?? 'unknown',
    xz,
    date: new Date().toISOString().slice(0, 10),
  };
}

/** `--device`: decode alone and the install only; `--write` replaces only their figures. */
async function deviceOnly(dir: string, sizes: readonly number[], write: boolean): Promise<void> {
  const bench = await benchDevice(dir, sizes, await pybricksCorpus(), { measure, median, log });
  process.stdout.write(`${deviceResults(bench)}\n`);
  if (write) {
    await writeFile(DOCUMENT, updateDocument(await readFile(DOCUMENT, 'utf8'), bench));
    log(`updated ${DOCUMENT}`);
  }
}

async function main(): Promise<void> {
  const { write, device, sizes } = options(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-'));
  const interrupted = () => {
    running?.kill();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    if (device) return await deviceOnly(dir, sizes, write);
    const corpus = await pybricksCorpus();
    log(`baseline: a worker that only loads sihl`);
    const baseline = await measure('baseline');
    const runs: SizeRun[] = [];
    for (const size of sizes) runs.push(await benchSize(dir, size, corpus));
    const rows = await compareCorpus(corpus, dir, log);
    const lzma2 = await benchLzma2(corpus, dir, log);
    const fleet = process.argv.includes('--quick') ? FLEET / 10 : FLEET;
    const publish = await benchPublish(dir, fleet, log);
    const serve = await benchServe(dir, process.argv.includes('--quick') ? 3 : 10, log);
    const memory = process.argv.includes('--quick')
      ? await benchMemory(dir, 2000, 10, log)
      : await benchMemory(dir, 10_000, 60, log);
    const cloud = await benchCloud(dir, log);
    const fleetRun = await benchFleet(dir, process.argv.includes('--quick') ? 1000 : FLEET_DEVICES, log);
    const cortexM4 = await benchCortexM4(dir, log);
    const report = {
      runs,
      baseline,
      corpus: rows,
      machine: machine(xzVersion()),
      publish,
      serve,
      memory,
      cloud,
      fleet: fleetRun,
    };
    process.stdout.write(`${results(report)}\n\n${lzma2}\n\n${cortexM4}\n`);
    if (write) {
      await writeFile(DOCUMENT, `${document(report)}\n${lzma2}\n\n${cortexM4}\n`);
      log(`wrote ${DOCUMENT}`);
    }
  } finally {
    process.off('SIGINT', interrupted);
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  log(`bench: ${(error as Error).message}`);
  process.exitCode = 1;
}
