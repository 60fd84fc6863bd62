// The C bootloader (bootloader/, docs/BOOTLOADER-C.md) on a simulated device: `sihl sim device boot
// --bootloader c`. Its host program sihl-boot runs the core's sihl_boot on a copy of the device's flash
// file and writes a trace of every erase and write; the trace is then replayed through the device's
// simulated flash, so the wear is counted, an armed power cut falls (completed or torn) at the same
// operation and in the same way as it would under the TypeScript bootloader, and the replayed flash is
// checked to be byte for byte what the C program left. Built on demand with the machine's C compiler.
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SihlError } from '../../core/errors.ts';
import { fromHex } from '../../core/format/bytes.ts';
import type { BootReport } from '../bootloader/bootloader.ts';
import type { Flash } from '../flash/flash.ts';
import type { SimulatedDevice } from './simulated-device.ts';

export const BOOTLOADER_DIR = fileURLToPath(new URL('../../../bootloader/', import.meta.url));
const SOURCES = ['core', 'host', 'ports', 'include/sihl'];

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], timeoutMs = 600_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `make ARGS` in bootloader/, one at a time across processes (test files and the CLI may build the
 * same objects at once): under flock(1) on bootloader/build/.lock when the machine has it, niced.
 */
export async function lockedMake(args: readonly string[]): Promise<Ran> {
  const lock = join(BOOTLOADER_DIR, 'build', '.lock');
  await mkdir(dirname(lock), { recursive: true });
  const make = ['make', '-s', '-C', BOOTLOADER_DIR, ...args];
  const flock = (await run('sh', ['-c', 'command -v flock'])).code === 0;
  return flock ? run('flock', [lock, 'nice', ...make]) : run('nice', make);
}

/** The newest modification time of the C sources sihl-boot is made of. */
async function newestSource(): Promise<number> {
  let newest = statSync(join(BOOTLOADER_DIR, 'Makefile')).mtimeMs;
  for (const dir of SOURCES) {
    for (const name of await readdir(join(BOOTLOADER_DIR, dir), { recursive: true })) {
      if (/\.(c|h)$/.test(name)) newest = Math.max(newest, statSync(join(BOOTLOADER_DIR, dir, name)).mtimeMs);
    }
  }
  return newest;
}

/**
 * The path of sihl-boot, built first when it is missing or older than its sources; a USAGE error that
 * says what to install when there is no C compiler, no make, or no fetched third-party sources.
 */
export async function cBootloader(variant: 'host' | 'asan' = 'host'): Promise<string> {
  const binary = join(BOOTLOADER_DIR, 'build', variant, 'sihl-boot');
  if (!existsSync(join(BOOTLOADER_DIR, 'Makefile')))
    throw new SihlError('USAGE', 'the C bootloader needs the bootloader/ folder of a sihl checkout');
  if (existsSync(binary) && statSync(binary).mtimeMs >= (await newestSource())) return binary;
  for (const tool of ['cc', 'make']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) {
      throw new SihlError(
        'USAGE',
        `the C bootloader is built on demand and needs a C compiler and make: no ${tool} on the PATH (Debian: apt-get install gcc make), or use --bootloader ts`,
      );
    }
  }
  if (
    !['libsodium', 'xz-embedded', 'brotli'].every((dep) => existsSync(join(BOOTLOADER_DIR, '.deps', dep)))
  ) {
    throw new SihlError(
      'USAGE',
      "the C bootloader needs libsodium, xz-embedded and Brotli's decoder: run bootloader/scripts/fetch-sources.sh first",
    );
  }
  const made = await lockedMake([`VARIANT=${variant}`, 'boot']);
  if (made.code !== 0 || !existsSync(binary))
    throw new SihlError('INTERNAL', `building the C bootloader failed:\n${made.stdout}${made.stderr}`);
  return binary;
}

/** One erase or write of a trace, in order. */
export type TraceOperation =
  | { readonly kind: 'erase'; readonly offset: number }
  | { readonly kind: 'write'; readonly offset: number; readonly data: Uint8Array };

/** sihl-boot's trace file: 'E' u32 offset | 'P' u32 offset, u32 length, the bytes (little-endian). */
export function parseTrace(bytes: Uint8Array): TraceOperation[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: TraceOperation[] = [];
  for (let at = 0; at < bytes.length; ) {
    const kind = bytes[at];
    const offset = view.getUint32(at + 1, true);
    if (kind === 0x45) {
      out.push({ kind: 'erase', offset });
      at += 5;
    } else if (kind === 0x50) {
      const length = view.getUint32(at + 5, true);
      out.push({ kind: 'write', offset, data: bytes.subarray(at + 9, at + 9 + length) });
      at += 9 + length;
    } else {
      throw new SihlError('INTERNAL', `the C bootloader's trace is damaged at byte ${at}`);
    }
  }
  return out;
}

/** Applies a trace to `flash`, in order (a power cut armed on it falls where it falls). */
export function replay(flash: Flash, trace: readonly TraceOperation[]): void {
  for (const op of trace) {
    if (op.kind === 'erase') flash.erase(op.offset);
    else flash.write(op.offset, op.data);
  }
}

/** What sihl-boot printed (bootloader/host/boot_main.c). */
export interface CBootOutput {
  readonly result: string;
  readonly outcome?: BootReport['outcome'];
  readonly reason?: string;
  readonly installed?: boolean;
  readonly trial?: boolean;
  readonly attempts?: number;
  readonly intact?: boolean;
  readonly runningSize?: number;
  readonly sha256?: string;
  readonly operations: number;
  readonly writes: number;
  readonly erases: number;
  readonly stagingReads: number;
  readonly installReads?: number;
}

export interface CBootRun {
  readonly output: CBootOutput;
  /** The flash as the C program left it. */
  readonly flash: Uint8Array;
  readonly trace: TraceOperation[];
}

export interface CBootOptions {
  /** sihl-boot to run (default: built on demand). */
  readonly binary?: string;
  /** Change the k-th read of staging, once or in the chip for good (test/device/staging-tamper.test.ts). */
  readonly tamper?: { readonly read: number; readonly mode: 'once' | 'permanent'; readonly where: string };
}

/** Runs sihl-boot on a copy of `device`'s flash; the device itself is not changed. */
export async function runCBoot(device: SimulatedDevice, options: CBootOptions = {}): Promise<CBootRun> {
  const binary = options.binary ?? (await cBootloader());
  const dir = await mkdtemp(join(tmpdir(), 'sihl-c-boot-'));
  try {
    const region = (r: { offset: number; size: number }) => `${r.offset}:${r.size}`;
    const { layout, flash } = device;
    await writeFile(join(dir, 'in.bin'), flash.memory);
    const args = [
      `flash=${join(dir, 'in.bin')}`,
      `out=${join(dir, 'out.bin')}`,
      `trace=${join(dir, 'trace.bin')}`,
      `sector=${flash.geometry.sectorSize}`,
      `write=${flash.geometry.writeSize}`,
      `boot-state=${region(layout.bootState)}`,
      `secure-element=${region(layout.secureElement)}`,
      `executable=${region(layout.executable)}`,
      `backup=${region(layout.backup)}`,
      `staging=${region(layout.staging)}`,
      `model=${device.model}`,
      ...(options.tamper
        ? [`tamper=${options.tamper.read}:${options.tamper.mode}:${options.tamper.where}`]
        : []),
    ];
    const ran = await run(binary, args, 120_000);
    if ((ran.code !== 0 && ran.code !== 1) || ran.stderr.trim() !== '')
      throw new SihlError('INTERNAL', `the C bootloader exited ${ran.code}: ${ran.stderr.trim()}`);
    return {
      output: JSON.parse(ran.stdout) as CBootOutput,
      flash: new Uint8Array(await readFile(join(dir, 'out.bin'))),
      trace: parseTrace(new Uint8Array(await readFile(join(dir, 'trace.bin')))),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A boot report of the C bootloader, in the TypeScript bootloader's terms (no buffer measure). */
export type CBootReport = Omit<BootReport, 'highWater'>;

/**
 * One boot of `device` with the C bootloader: its operations replayed through the device's flash (a
 * power cut armed there falls as it would, throwing PowerCut); the report, or a FLASH_FAULT or INTERNAL
 * error when the C boot stopped on one.
 */
export async function bootWithC(device: SimulatedDevice, options: CBootOptions = {}): Promise<CBootReport> {
  const ran = await runCBoot(device, options);
  replay(device.flash, ran.trace);
  if (Buffer.compare(device.flash.memory, ran.flash) !== 0)
    throw new SihlError('INTERNAL', "the C bootloader's trace does not replay to the flash it left");
  const o = ran.output;
  if (o.result !== 'OK' || o.outcome === undefined)
    throw new SihlError(
      o.result === 'FLASH_FAULT' ? 'FLASH_FAULT' : 'INTERNAL',
      `the C bootloader stopped: ${o.result}`,
    );
  const digest = fromHex(o.sha256 ?? '');
  const state = device.bootState()?.running;
  const version = state && Buffer.from(state.digest).equals(digest) ? state.version : 'unknown';
  return {
    outcome: o.outcome,
    running: { size: o.runningSize ?? 0, digest, version },
    installed: o.installed === true,
    trial: o.trial === true,
    attempts: o.attempts ?? 0,
    ...(o.reason && o.reason !== 'OK' ? { reason: o.reason } : {}),
    intact: o.intact === true,
  };
}
