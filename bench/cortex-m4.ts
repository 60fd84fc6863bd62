// The bootloader on a Cortex-M4 (bootloader/targets/cortex-m4, docs/CORTEX-M4.md): builds the target
// programs, reads their linker maps for flash and RAM per source file, and runs them in QEMU's mps2-an386
// with -icount shift=0, where the instruction counts repeat exactly. `node bench/cortex-m4.ts` prints the
// section alone; bench/run.ts appends it to the whole benchmark.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { boxKeyPairFromSecret, seal } from '../src/core/crypto/box.ts';
import { sha256 } from '../src/core/crypto/hash.ts';
import { sign, signingKeyPairFromSeed } from '../src/core/crypto/sign.ts';
import { StreamEncryptor } from '../src/core/crypto/stream.ts';
import { toHex } from '../src/core/format/bytes.ts';
import { stagedDevice, type UpdateOptions } from '../test/bootloader/qemu-device.ts';
import {
  BUILD_DIR,
  buildDir,
  buildTarget,
  runQemu,
  STATUS,
  TARGET_DIR,
  type Variant,
} from '../test/bootloader/qemu-harness.ts';
import { PYBRICKS, pybricksFirmware } from '../test/helpers.ts';

/** The clock a Cortex-M4 bootloader typically runs at, for turning instructions into time (at 1 IPC). */
export const CLOCK_HZ = 64e6;

/** What one object file (or archive member) brings into a linked program, in bytes. */
export interface ObjectSize {
  readonly file: string;
  readonly code: number;
  readonly rodata: number;
  readonly data: number;
  readonly bss: number;
}

/** Flash a file costs (code, constants and the initial values of data) and RAM (data and bss). */
export const flashOf = (o: ObjectSize) => o.code + o.rodata + o.data;
export const ramOf = (o: ObjectSize) => o.data + o.bss;

/** Reads a GNU ld map: the input sections kept in the output, summed per file. */
export function mapSizes(map: string): ObjectSize[] {
  const body = map.slice(map.indexOf('Linker script and memory map'));
  const sizes = new Map<string, { code: number; rodata: number; data: number; bss: number }>();
  let pending: string | undefined;
  for (const line of body.split('\n')) {
    // An input section: " .name 0xADDR 0xSIZE file", the name alone on its line when it is long.
    const whole = /^ (\.[^\s]+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.+)$/.exec(line);
    const tail = /^\s{16,}0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$/.exec(line);
    let name: string | undefined;
    let size = 0;
    let file = '';
    if (whole) {
      [name, size, file] = [whole[1], Number.parseInt(whole[3] ?? '0', 16), whole[4] ?? ''];
    } else if (tail && pending) {
      [name, size, file] = [pending, Number.parseInt(tail[2] ?? '0', 16), tail[3] ?? ''];
    }
    const alone = /^ (\.[^\s]+)$/.exec(line);
    pending = alone ? alone[1] : undefined;
    if (!name || size === 0 || name.startsWith('.debug') || name.startsWith('.ARM.attributes')) continue;
    if (name.startsWith('.comment') || name === '.stack') continue;
    const kind =
      name.startsWith('.text') || name === '.vectors' || name.startsWith('.glue')
        ? 'code'
        : name.startsWith('.rodata') || name.startsWith('.ARM.exidx')
          ? 'rodata'
          : name.startsWith('.data')
            ? 'data'
            : name.startsWith('.bss') || name === 'COMMON'
              ? 'bss'
              : undefined;
    if (!kind) continue;
    const entry = sizes.get(file) ?? { code: 0, rodata: 0, data: 0, bss: 0 };
    entry[kind] += size;
    sizes.set(file, entry);
  }
  return [...sizes].map(([file, s]) => ({ file: shortName(file), ...s }));
}

/** A file's name as the tables show it: relative to the bootloader folder, or the library member. */
function shortName(file: string): string {
  const member = /\/(lib[^/]+\.a)\((.+)\)$/.exec(file);
  if (member) return `${member[1]}(${member[2]})`;
  return file
    .replace(/^.*?\/board\//, 'targets/cortex-m4/')
    .replace(/^.*?\/sihl\//, '')
    .replace(/^.*?\/deps\/libsodium\/src\/libsodium\//, 'libsodium/')
    .replace(/^.*?\/deps\//, '')
    .replace(/\.o$/, '.c');
}

/** The group a file belongs to in the summary. */
export function groupOf(file: string): string {
  if (file.startsWith('libsodium/')) return 'libsodium';
  if (file.startsWith('xz-embedded/')) return 'xz-embedded (LZMA2 decoder)';
  if (file.startsWith('targets/')) return 'board: start-up, semihosting, NOR flash port';
  if (file.startsWith('lib')) return 'newlib and libgcc';
  return 'sihl core';
}

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
): Promise<{ steps: InstallStep[]; image: Record<string, number> }> {
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
  const image = Object.fromEntries(
    [...(/^image (.*)$/m.exec(run.output)?.[1] ?? '').matchAll(/([a-z]+)=(\d+)/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
  if (image.plaintext !== device.newFirmware.length) throw new Error('the install bench read another image');
  return { steps, image };
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

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const grouped = (n: number) => n.toLocaleString('en-US');

/** Per-file table in the manner of the AWS OTA library's size_table.md. */
export function sizeTable(objects: readonly ObjectSize[]): string {
  const rows = [...objects]
    .filter((o) => flashOf(o) + ramOf(o) > 0)
    .sort((a, b) => groupOf(a.file).localeCompare(groupOf(b.file)) || flashOf(b) - flashOf(a));
  const total = rows.reduce((t, o) => ({ f: t.f + flashOf(o), r: t.r + ramOf(o) }), { f: 0, r: 0 });
  return [
    '| file | group | flash (code + rodata + data) | RAM (data + bss) |',
    '|---|---|---:|---:|',
    ...rows.map((o) => `| ${o.file} | ${groupOf(o.file)} | ${grouped(flashOf(o))} | ${grouped(ramOf(o))} |`),
    `| **total** | | **${grouped(total.f)}** | **${grouped(total.r)}** |`,
  ].join('\n');
}

export async function linkedSizes(program: string, variant?: Variant): Promise<ObjectSize[]> {
  return mapSizes(await readFile(join(buildDir(variant), `${program}.map`), 'utf8'));
}

/** The two builds the figures compare; both take images packed with the default 16 KiB chunks. */
export const VARIANTS = {
  signed: { name: 'signed-only', defines: ['-DSIHL_CHUNK_MAX=16384u', '-DSIHL_M4_SIGNED_ONLY'] },
  encrypted: { name: 'encrypted', defines: ['-DSIHL_CHUNK_MAX=16384u'] },
} as const satisfies Record<string, Variant>;

/** The LZMA2 dictionary the RAM figures leave out (2^16, the largest the core accepts). */
const DICTIONARY = 65536;

export interface BuildFigures {
  readonly variant: Variant;
  readonly program: string;
  readonly objects: readonly ObjectSize[];
  readonly flash: number;
  readonly ram: number;
  readonly stack: number;
}

/** Builds `variant` and measures flash, static RAM and the stack an install of 7.28.0 used. */
async function measureBuild(dir: string, variant: Variant, program: string): Promise<BuildFigures> {
  await buildTarget(program, variant);
  const objects = await linkedSizes(program, variant);
  const device = await stagedDevice(dir, { encrypt: variant.name === 'encrypted' });
  const run = await runQemu(join(buildDir(variant), `${program}.elf`), {
    flash: device.flash,
    sectorSize: device.sectorSize,
    writeSize: device.writeSize,
    extra: [...device.words, `image=${device.imageBytes}`, `envelope=${device.envelopeBytes}`],
  });
  if (run.status !== STATUS.ok || run.stackBytes === undefined)
    throw new Error(`${program} (${variant.name}) failed:\n${run.output}`);
  return {
    variant,
    program,
    objects,
    flash: objects.reduce((t, o) => t + flashOf(o), 0),
    ram: objects.reduce((t, o) => t + ramOf(o), 0),
    stack: run.stackBytes,
  };
}

const perByte = (instructions: number, bytes: number) => (instructions / bytes).toFixed(1);
const ms = (instructions: number) => `${((instructions / CLOCK_HZ) * 1000).toFixed(1)} ms`;

/** The Markdown section for the benchmark document. */
export async function benchCortexM4(dir: string, log: (line: string) => void): Promise<string> {
  log('cortex-m4: cross-building and measuring the signed-only and encrypted builds');
  let program = 'boot';
  try {
    await buildTarget('boot');
  } catch {
    program = 'install-bench';
  }
  const builds: BuildFigures[] = [];
  for (const variant of [VARIANTS.signed, VARIANTS.encrypted]) {
    builds.push(await measureBuild(await mkdtemp(join(dir, 'm4-')), variant, program));
  }
  log('cortex-m4: instructions of verify, envelope, decrypt and decompress in QEMU');
  await buildTarget('install-bench');
  await buildTarget('lzma-bench');
  await buildTarget('crypto-bench');
  const install = async (options: UpdateOptions) => benchInstall(await mkdtemp(join(dir, 'm4-')), options);
  const plain = await install({ encrypt: false, compression: 'none' });
  const sealed = await install({ encrypt: true, compression: 'none' });
  const packed = await install({ encrypt: false, compression: 'lzma2' });
  const full = await install({ encrypt: true, compression: 'lzma2' });
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  const lzma = [];
  for (const log2 of [12, 14, 16]) lzma.push({ log2, ...(await benchLzma(dir, firmware, log2)) });
  const primitives = await benchPrimitives(dir, firmware);
  const step = (run: typeof plain, name: string) => {
    const found = run.steps.find((s) => s.step === name);
    if (found?.result !== 'OK') throw new Error(`the install bench has no ${name} that passed`);
    return found;
  };
  const verify = step(full, 'verify');
  const envelope = step(full, 'open-envelope');
  const unpack = step(full, 'unpack');
  const hashing = step(plain, 'unpack').instructions;
  const decrypt = step(sealed, 'unpack').instructions - hashing;
  const decompress = step(packed, 'unpack').instructions - hashing;
  const n = firmware.length;
  const readBack =
    (primitives.find((p) => p.name === 'sha256')?.instructions ?? 0) * (n / (primitives[0]?.bytes ?? n));
  const oneInstall = verify.instructions + envelope.instructions + 2 * unpack.instructions + readBack;
  const groups = (b: BuildFigures) => {
    const by = new Map<string, { flash: number; ram: number }>();
    for (const o of b.objects) {
      const g = by.get(groupOf(o.file)) ?? { flash: 0, ram: 0 };
      g.flash += flashOf(o);
      g.ram += ramOf(o);
      by.set(groupOf(o.file), g);
    }
    return by;
  };
  const [signed, encrypted] = builds as [BuildFigures, BuildFigures];
  const sg = groups(signed);
  const eg = groups(encrypted);
  const names = [...new Set([...sg.keys(), ...eg.keys()])].sort();
  const sodium = (b: BuildFigures) =>
    new Map(b.objects.filter((o) => o.file.startsWith('libsodium/')).map((o) => [o.file, flashOf(o)]));
  const ss = sodium(signed);
  const es = sodium(encrypted);
  const sodiumRows = [...es.keys()]
    .map((f) => ({ f, s: ss.get(f) ?? 0, e: es.get(f) ?? 0 }))
    .sort((a, b) => b.e - b.s - (a.e - a.s) || b.e - a.e);
  return [
    '## The bootloader on a Cortex-M4',
    '',
    `Cross-built with Debian's gcc-arm-none-eabi (-Os -mcpu=cortex-m4 -mthumb, sections garbage-collected)
and run in qemu-system-arm -M mps2-an386 with -icount shift=0, which makes instruction counts repeat
exactly (bench/cortex-m4.ts, ${relative(process.cwd(), TARGET_DIR)}). Both builds take images packed
with the default 16 KiB chunk (SIHL_CHUNK_MAX=16384). Program measured: ${program}.elf.${
      program === 'boot'
        ? ''
        : " (The core's boot is not linked yet; this program links the same core, ports and libraries around verify, envelope and unpack.)"
    }`,
    '',
    '| build | flash (text + rodata + data) | RAM: data + bss | stack high-water | RAM besides the 64 KiB dictionary |',
    '|---|---:|---:|---:|---:|',
    ...builds.map(
      (b) =>
        `| ${b.variant.name} | ${grouped(b.flash)} B (${kib(b.flash)}) | ${grouped(b.ram)} B | ${grouped(b.stack)} B | ${grouped(b.ram + b.stack - DICTIONARY)} B (${kib(b.ram + b.stack - DICTIONARY)}) |`,
    ),
    '| MCUboot, Ed25519, nRF52840 | 39,918 B | | | |',
    '| MCUboot, swap-using-offset, MCXW71 | 33,006 B | 21,880 B | | |',
    '| MCUboot, ECDSA, upgrade-only | 13.8 KB | 17 KB | | |',
    '',
    '| group | signed-only flash | encrypted flash | signed-only RAM | encrypted RAM |',
    '|---|---:|---:|---:|---:|',
    ...names.map(
      (g) =>
        `| ${g} | ${grouped(sg.get(g)?.flash ?? 0)} | ${grouped(eg.get(g)?.flash ?? 0)} | ${grouped(sg.get(g)?.ram ?? 0)} | ${grouped(eg.get(g)?.ram ?? 0)} |`,
    ),
    '',
    'libsodium, file by file (flash in bytes): what the sealed box of the encrypted build adds.',
    '',
    '| file | signed-only | encrypted | added |',
    '|---|---:|---:|---:|',
    ...sodiumRows.map((r) => `| ${r.f} | ${grouped(r.s)} | ${grouped(r.e)} | ${grouped(r.e - r.s)} |`),
    '',
    `Instructions on the target for Pybricks 7.28.0 (movehub, ${grouped(n)} bytes), time at ${CLOCK_HZ / 1e6} MHz at one
instruction per cycle (a lower bound: flash wait states and taken branches cost more):`,
    '',
    '| step | instructions | per byte of firmware | at 64 MHz |',
    '|---|---:|---:|---:|',
    `| verify an encrypted LZMA2 image of ${grouped(full.image.payload ?? 0)} payload bytes (header, manifest, delegation, 2 approver signatures, root check, payload SHA-256) | ${grouped(verify.instructions)} | ${perByte(verify.instructions, n)} | ${ms(verify.instructions)} |`,
    `| open the key envelope (sealed box: X25519, BLAKE2b, XSalsa20-Poly1305) | ${grouped(envelope.instructions)} | | ${ms(envelope.instructions)} |`,
    `| unpack it: decrypt, decompress (2^16 dictionary), unfilter, payload and firmware SHA-256 | ${grouped(unpack.instructions)} | ${perByte(unpack.instructions, n)} | ${ms(unpack.instructions)} |`,
    `| of which hashing (an unpack with neither compression nor encryption) | ${grouped(hashing)} | ${perByte(hashing, n)} | ${ms(hashing)} |`,
    `| of which decrypting (secretstream XChaCha20-Poly1305: encrypted minus plain unpack) | ${grouped(decrypt)} | ${perByte(decrypt, n)} | ${ms(decrypt)} |`,
    `| of which decompressing and unfiltering (LZMA2 minus plain unpack, signed-only images) | ${grouped(decompress)} | ${perByte(decompress, n)} | ${ms(decompress)} |`,
    `| an install: verify, envelope, the unpack twice (dry run, then the writing pass) and the read-back SHA-256 | ${grouped(Math.round(oneInstall))} | ${perByte(oneInstall, n)} | ${ms(oneInstall)} |`,
    '',
    "The core's LZMA2 decoder alone on the same firmware compressed by xz (raw LZMA2, preset 9e), by dictionary:",
    '',
    '| dictionary | compressed | decoder arena (state + dictionary) | instructions | per byte |',
    '|---|---:|---:|---:|---:|',
    ...lzma.map(
      (l) =>
        `| 2^${l.log2} | ${grouped(l.compressed)} B | ${grouped(l.memory)} B | ${grouped(l.instructions)} | ${perByte(l.instructions, l.bytes)} |`,
    ),
    '',
    'libsodium alone, on the same firmware:',
    '',
    '| primitive | bytes | instructions | per byte |',
    '|---|---:|---:|---:|',
    ...primitives.map(
      (p) =>
        `| ${p.name} | ${grouped(p.bytes)} | ${grouped(p.instructions)} | ${perByte(p.instructions, p.bytes)} |`,
    ),
    '',
    `Per file, encrypted build (${encrypted.program}.elf), in the manner of the AWS OTA library's size table:`,
    '',
    sizeTable(encrypted.objects),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-m4-'));
  try {
    process.stdout.write(`${await benchCortexM4(dir, (l) => process.stderr.write(`${l}\n`))}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
