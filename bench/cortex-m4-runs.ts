// The Cortex-M4 bench programs run in QEMU: libsodium's primitives, the core's verify, envelope and unpack
// on a staged update, and its LZMA2 decoder; inputs are made on the host and every result is checked.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { boxKeyPairFromSecret, seal } from '../src/core/crypto/box.ts';
import { sha256 } from '../src/core/crypto/hash.ts';
import { sign, signingKeyPairFromSeed } from '../src/core/crypto/sign.ts';
import { StreamEncryptor } from '../src/core/crypto/stream.ts';
import { toHex } from '../src/core/format/bytes.ts';
import { stagedDevice, type UpdateOptions } from '../test/bootloader/qemu-device.ts';
import { BUILD_DIR, runQemu, STATUS } from '../test/bootloader/qemu-harness.ts';

/** The section of the flash file the crypto bench reads (bootloader/targets/cortex-m4/crypto-bench.c). */
export async function cryptoBenchInput(firmware: Uint8Array, chunk: number): Promise<Uint8Array> {
  const signer = signingKeyPairFromSeed(new Uint8Array(32).fill(7));
  const manifest = new Uint8Array(512).fill(0x4d);
  const signature = sign(signer.secretKey, manifest);
  const key = new Uint8Array(32).fill(9);
  const stream = new StreamEncryptor(key);
  const messages: Uint8Array[] = [];
  for (let at = 0; at < firmware.length; at += chunk) {
    const last = at + chunk >= firmware.length;
    messages.push(stream.push(firmware.subarray(at, at + chunk), new Uint8Array(0), last));
  }
  const recipient = boxKeyPairFromSecret(new Uint8Array(32).fill(5));
  const sealed = seal(recipient.publicKey, key);
  const ciphertext = Buffer.concat(messages);
  const HEAD = 256;
  const dataAt = HEAD;
  const messageAt = dataAt + firmware.length;
  const streamAt = messageAt + manifest.length;
  const boxAt = streamAt + ciphertext.length;
  const total = Math.ceil((boxAt + sealed.length) / 4096) * 4096;
  const out = new Uint8Array(total).fill(0xff);
  const view = new DataView(out.buffer);
  out.set(Buffer.from('SIHB'), 0);
  view.setUint32(4, firmware.length, true);
  out.set(signer.publicKey, 8);
  out.set(signature, 40);
  view.setUint32(104, messageAt, true);
  view.setUint32(108, manifest.length, true);
  out.set(key, 112);
  out.set(stream.header, 144);
  view.setUint32(168, chunk, true);
  view.setUint32(172, messages.length, true);
  view.setUint32(176, streamAt, true);
  view.setUint32(180, ciphertext.length, true);
  out.set(recipient.publicKey, 184);
  out.set(recipient.secretKey, 216);
  view.setUint32(248, boxAt, true);
  view.setUint32(252, sealed.length, true);
  out.set(firmware, dataAt);
  out.set(manifest, messageAt);
  out.set(ciphertext, streamAt);
  out.set(sealed, boxAt);
  return out;
}

export interface PrimitiveRun {
  readonly name: string;
  readonly bytes: number;
  readonly instructions: number;
}

/** Runs the crypto bench on `firmware`; every result is checked against the host's. */
export async function benchPrimitives(dir: string, firmware: Uint8Array): Promise<PrimitiveRun[]> {
  const flash = join(dir, 'crypto-bench.bin');
  await writeFile(flash, await cryptoBenchInput(firmware, 16384));
  const run = await runQemu(join(BUILD_DIR, 'crypto-bench.elf'), { flash });
  if (run.status !== STATUS.ok) throw new Error(`crypto bench failed:\n${run.output}`);
  const lines = new Map<string, Record<string, string>>();
  for (const m of run.output.matchAll(/^([a-z0-9-]+)((?: [a-z]+=\S*)+)$/gm)) {
    const fields = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/ ([a-z]+)=(\S*)/g)].map((f) => [f[1], f[2]]),
    );
    lines.set(m[1] ?? '', fields as Record<string, string>);
  }
  const get = (name: string) => {
    const f = lines.get(name);
    if (!f) throw new Error(`crypto bench printed no ${name}:\n${run.output}`);
    return f;
  };
  const calibration = get('calibration');
  const drift = Math.abs(Number(calibration.insns) / Number(calibration.expected) - 1);
  if (drift > 0.01) throw new Error(`the instruction clock is off by ${(drift * 100).toFixed(1)} %`);
  const digest = toHex(sha256(firmware));
  if (get('sha256').digest !== digest) throw new Error('SHA-256 on the target differs from the host');
  if (get('ed25519-verify').ok !== '1') throw new Error('Ed25519 verification failed on the target');
  const pull = get('secretstream-pull');
  if (pull.ok !== '1' || pull.digest !== digest) throw new Error('secretstream on the target failed');
  const box = get('box-seal-open');
  if (box.ok !== '1' || box.opened !== '09'.repeat(32)) throw new Error('the sealed box did not open');
  return ['sha256', 'ed25519-verify', 'secretstream-pull', 'box-seal-open'].map((name) => ({
    name,
    bytes: Number(get(name).bytes),
    instructions: Number(get(name).insns),
  }));
}

export interface InstallStep {
  readonly step: string;
  readonly result: string;
  readonly bytes: number;
  readonly instructions: number;
  readonly stack: number;
}

/** Verify, open the envelope and unpack (the dry run) of a staged 7.28.0 image, counted on the target. */
export async function benchInstall(
  dir: string,
  options: UpdateOptions,
): Promise<{ steps: InstallStep[]; image: Record<string, number>; work: Record<string, number> }> {
  const device = await stagedDevice(dir, options);
  const run = await runQemu(join(BUILD_DIR, 'install-bench.elf'), {
    flash: device.flash,
    sectorSize: device.sectorSize,
    writeSize: device.writeSize,
    extra: [...device.words, `image=${device.imageBytes}`, `envelope=${device.envelopeBytes}`],
  });
  if (run.status !== STATUS.ok) throw new Error(`the install bench failed:\n${run.output}`);
  const steps = [
    ...run.output.matchAll(
      /^(verify|open-envelope|unpack) result=(\S+) bytes=(\d+) insns=(\d+) stack=(\d+)$/gm,
    ),
  ].map((m) => ({
    step: m[1] ?? '',
    result: m[2] ?? '',
    bytes: Number(m[3]),
    instructions: Number(m[4]),
    stack: Number(m[5]),
  }));
  const fields = (name: string) =>
    Object.fromEntries(
      [...(new RegExp(`^${name} (.*)$`, 'm').exec(run.output)?.[1] ?? '').matchAll(/([a-z]+)=(\d+)/g)].map(
        (m) => [m[1], Number(m[2])],
      ),
    );
  const image = fields('image');
  if (image.plaintext !== device.newFirmware.length) throw new Error('the install bench read another image');
  return { steps, image, work: fields('work') };
}

/** The core's LZMA2 decoder on `firmware` compressed by the host's xz at a 2^windowLog dictionary. */
export async function benchLzma(
  dir: string,
  firmware: Uint8Array,
  windowLog: number,
): Promise<{ compressed: number; bytes: number; instructions: number; memory: number }> {
  const compressed = execFileSync(
    'xz',
    ['--format=raw', `--lzma2=preset=9e,dict=${2 ** windowLog}`, '--stdout'],
    { input: firmware, maxBuffer: 64 * 1024 * 1024 },
  );
  const file = new Uint8Array(Math.ceil((64 + compressed.length) / 4096) * 4096).fill(0xff);
  const view = new DataView(file.buffer);
  file.set(Buffer.from('SIHZ'), 0);
  view.setUint32(4, windowLog, true);
  view.setUint32(8, compressed.length, true);
  view.setUint32(12, firmware.length, true);
  file.set(compressed, 64);
  const flash = join(dir, `lzma-${windowLog}.bin`);
  await writeFile(flash, file);
  const run = await runQemu(join(BUILD_DIR, 'lzma-bench.elf'), { flash });
  const m =
    /^lzma2 result=OK .*memory=(\d+) compressed=(\d+) bytes=(\d+) insns=(\d+) digest=([0-9a-f]+)$/m.exec(
      run.output,
    );
  if (run.status !== STATUS.ok || !m || m[5] !== toHex(sha256(firmware))) {
    throw new Error(`the LZMA2 bench failed:\n${run.output}`);
  }
  return { memory: Number(m[1]), compressed: Number(m[2]), bytes: Number(m[3]), instructions: Number(m[4]) };
}
