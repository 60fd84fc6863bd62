// Builds the bootloader's Cortex-M4 programs and runs them in QEMU's mps2-an386 (a Cortex-M4), with a
// flash file that plays the device's NOR flash across power cycles. Used by the QEMU tests and the bench.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TARGET_DIR = fileURLToPath(new URL('../../bootloader/targets/cortex-m4/', import.meta.url));
export const BUILD_DIR = `${TARGET_DIR}build/`;
const LOCK = `${BUILD_DIR}.lock`;
const FETCH = fileURLToPath(new URL('../../bootloader/scripts/fetch-sources.sh', import.meta.url));

/** The tools the target's tests need that this machine lacks, or null when all are there. */
function missingTools(): string | null {
  const tools = ['arm-none-eabi-gcc', 'qemu-system-arm', 'make', 'flock'];
  const absent = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return absent.length > 0 ? absent.join(', ') : null;
}

// CI installs the cross compiler and QEMU (.ci/run): there a missing tool is a failure, elsewhere a skip
// with a loud message.
const missing = missingTools();
if (missing !== null) {
  const message = `Cortex-M4 tests NOT RUN: ${missing} missing. Run bootloader/targets/cortex-m4/deps.sh (Debian: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm).`;
  if (process.env.CI === 'true' || process.env.SIHL_REQUIRE_C === '1') throw new Error(message);
  console.error(`\n!!! ${message}\n`);
}
/** The reason the target's tests are skipped, or false when they run. */
export const skipTarget: string | false = missing !== null ? `Cortex-M4 tools missing: ${missing}` : false;

/** Exit statuses of the target programs (bootloader/targets/cortex-m4/board.h). */
export const STATUS = { ok: 0, failed: 1, usage: 2, powerCut: 3, fault: 4 } as const;

export interface QemuOptions {
  /** The flash file: loaded at power-on, written back at exit or at an injected power cut. */
  readonly flash: string;
  readonly sectorSize?: number;
  readonly writeSize?: number;
  /** Power goes right after this many flash operations (erases and programs). */
  readonly cutAfter?: number;
  /** The operation the cut falls in is torn half-way. */
  readonly tear?: boolean;
  /** Further `name=value` words for the program. */
  readonly extra?: readonly string[];
  readonly timeoutMs?: number;
}

export interface QemuRun {
  readonly status: number;
  readonly output: string;
  /** Flash operations the program reported at its end, when it did. */
  readonly operations?: number;
  /** The stack's high-water mark the program measured (painted stack), in bytes. */
  readonly stackBytes?: number;
}

function run(
  command: string,
  args: readonly string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const options = { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env } };
    execFile(command, args, options, (error, out, err) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${err}`));
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, out, err });
    });
  });
}

/** A build of the target: its folder under the target's and the preprocessor definitions it adds. */
export interface Variant {
  readonly name: string;
  readonly defines: readonly string[];
}

/** The folder a variant's programs go to (the default build when none is given). */
export const buildDir = (variant?: Variant) => (variant ? `${BUILD_DIR}${variant.name}/` : BUILD_DIR);

/** `make` in the target's folder (niced: the build shares the machine); throws with the compiler's output. */
export async function buildTarget(goal: string, variant?: Variant): Promise<void> {
  // libsodium and xz-embedded from Debian's source packages; quick when they are already there.
  // Test files run side by side: one build at a time in the target's folder.
  mkdirSync(BUILD_DIR, { recursive: true });
  const fetched = await run('nice', ['flock', LOCK, FETCH], 900_000, { SIHL_FUZZ_TOOLS: '0' });
  if (fetched.code !== 0)
    throw new Error(`fetching the third-party sources failed:\n${fetched.out}${fetched.err}`);
  const args = ['flock', LOCK, 'make', '-s', '-C', TARGET_DIR, goal];
  if (variant) args.push(`BUILD=build/${variant.name}`, `TARGET_DEFINES=${variant.defines.join(' ')}`);
  const r = await run('nice', args, 600_000);
  if (r.code !== 0) throw new Error(`the Cortex-M4 build failed:\n${r.out}${r.err}`);
}

/** Boots `elf` once in qemu-system-arm -M mps2-an386, with -icount shift=0 so counts repeat exactly. */
export async function runQemu(elf: string, options: QemuOptions): Promise<QemuRun> {
  const words = [
    `flash=${options.flash}`,
    `sector=${options.sectorSize ?? 4096}`,
    `write=${options.writeSize ?? 8}`,
    ...(options.cutAfter ? [`cut=${options.cutAfter}`] : []),
    ...(options.tear ? ['tear'] : []),
    ...(options.extra ?? []),
  ];
  if (words.some((w) => /[\s,]/.test(w)))
    throw new Error(`QEMU arguments cannot hold spaces or commas: ${words}`);
  const r = await run(
    'nice',
    [
      'qemu-system-arm',
      '-M',
      'mps2-an386',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      'none',
      '-icount',
      'shift=0',
      '-semihosting-config',
      `enable=on,target=native,arg=${words.join(' ')}`,
      '-kernel',
      elf,
    ],
    options.timeoutMs ?? 120_000,
  );
  const output = r.out + r.err;
  const operations = /flash operations (\d+)/.exec(output)?.[1];
  const stack = /stack high-water (\d+) bytes/.exec(output)?.[1];
  return {
    status: r.code,
    output,
    ...(operations ? { operations: Number(operations) } : {}),
    ...(stack ? { stackBytes: Number(stack) } : {}),
  };
}
