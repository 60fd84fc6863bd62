// Builds the C bootloader's host tool (bootloader/Makefile) and runs it on an image, for the tests
// that hold the C core to the TypeScript verifier outcome for outcome. No node:test here.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockedMake } from '../../src/device/simulator/c-bootloader.ts';

export const BOOTLOADER_DIR = fileURLToPath(new URL('../../bootloader/', import.meta.url));

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(command: string, args: readonly string[], timeoutMs = 600_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Why the C tests cannot run here, or null when they can: no C compiler or make, or the third-party
 * sources were not fetched and cannot be (bootloader/scripts/fetch-sources.sh needs Debian's apt).
 */
export async function missingToolchain(): Promise<string | null> {
  for (const tool of ['cc', 'make']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) return `no ${tool} on the PATH`;
  }
  if (
    !['libsodium', 'xz-embedded', 'brotli/c/dec/decode.c'].every((p) =>
      existsSync(join(BOOTLOADER_DIR, '.deps', p)),
    )
  ) {
    const fetched = await run('bash', [join(BOOTLOADER_DIR, 'scripts/fetch-sources.sh')]);
    if (fetched.code !== 0)
      return `bootloader/scripts/fetch-sources.sh failed: ${fetched.stderr.trim().slice(-400)}`;
  }
  return null;
}

/** `make` of one variant (host, asan); returns the path of sihl-host, or throws with the compiler's output. */
export async function buildHost(variant: 'host' | 'asan'): Promise<string> {
  const made = await lockedMake(['-j2', `VARIANT=${variant}`, 'host']);
  if (made.code !== 0) throw new Error(`make VARIANT=${variant} failed:\n${made.stdout}${made.stderr}`);
  return join(BOOTLOADER_DIR, 'build', variant, 'sihl-host');
}

export interface HostRoot {
  readonly version: number;
  readonly threshold: number;
  readonly keys: readonly Uint8Array[];
}

/** sihl-host's --trust file (bootloader/host/main.c). */
export async function writeTrust(
  path: string,
  root: HostRoot,
  delegationVersion = 0,
  securityCounter = 0,
): Promise<void> {
  const bytes = Buffer.alloc(8 + 32 * root.keys.length + 8);
  bytes.writeUInt32LE(root.version, 0);
  bytes[4] = root.threshold;
  bytes[5] = root.keys.length;
  root.keys.forEach((k, i) => {
    bytes.set(k, 8 + 32 * i);
  });
  bytes.writeUInt32LE(delegationVersion, 8 + 32 * root.keys.length);
  bytes.writeUInt32LE(securityCounter, 12 + 32 * root.keys.length);
  await writeFile(path, bytes);
}

export interface HostOutcome {
  readonly stage: 'verify' | 'envelope' | 'unpack';
  readonly reason: string;
  readonly rootVersion?: number;
  readonly delegationVersion?: number;
}

/** Runs sihl-host; sanitizer reports or a crash fail loudly. */
export async function runHost(binary: string, args: readonly string[]): Promise<HostOutcome> {
  const result = await run(binary, args, 60_000);
  if (result.stderr.trim() !== '' || (result.code !== 0 && result.code !== 1)) {
    throw new Error(`sihl-host ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as HostOutcome;
}

/**
 * For a test that needs the C toolchain: null when it is there; else the reason to skip, said loudly,
 * or thrown in CI (`CI=true` or `SIHL_REQUIRE_C=1`), where `.ci/run` installs everything first.
 */
export async function cToolchainMissing(): Promise<string | null> {
  const missing = await missingToolchain();
  if (missing === null) return null;
  const message = `C bootloader tests NOT RUN: ${missing}. Run bootloader/scripts/fetch-sources.sh (Debian: installs gcc, make, clang and fetches libsodium, xz-embedded and Brotli's decoder).`;
  if (process.env.CI === 'true' || process.env.SIHL_REQUIRE_C === '1') throw new Error(message);
  console.error(`\n!!! ${message}\n`);
  return `C toolchain missing: ${missing}`;
}
