// The bootloader on a Cortex-M4 (bootloader/targets/cortex-m4, docs/CORTEX-M4.md): builds the target
// programs, reads their linker maps for flash and RAM per source file, and runs them in QEMU's mps2-an386
// with -icount shift=0, where the instruction counts repeat exactly. `node bench/cortex-m4.ts` prints the
// section alone; bench/run.ts appends it to the whole benchmark.
import { mkdtemp } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stagedDevice, type UpdateOptions } from '../test/bootloader/qemu-device.ts';
import {
  buildDir,
  buildTarget,
  runQemu,
  STATUS,
  TARGET_DIR,
  type Variant,
} from '../test/bootloader/qemu-harness.ts';
import { PYBRICKS, pybricksFirmware } from '../test/helpers.ts';
import { benchInstall, benchLzma, benchPrimitives } from './cortex-m4-runs.ts';
import { flashOf, groupOf, linkedSizes, type ObjectSize, ramOf, sizeTable } from './cortex-m4-sizes.ts';

/** The clock a Cortex-M4 bootloader typically runs at, for turning instructions into time (at 1 IPC). */
export const CLOCK_HZ = 64e6;

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const grouped = (n: number) => n.toLocaleString('en-US');
/** The builds the figures compare, each with the update it installs while its stack is measured. */
export const VARIANTS = {
  signed: {
    name: 'signed-only',
    defines: ['-DSIHL_CHUNK_MAX=16384u', '-DSIHL_M4_SIGNED_ONLY'],
    update: { encrypt: false },
  },
  encrypted: { name: 'encrypted', defines: ['-DSIHL_CHUNK_MAX=16384u'], update: { encrypt: true } },
  small: {
    name: 'encrypted-4k-chunks',
    defines: ['-DSIHL_CHUNK_MAX=4096u'],
    update: { encrypt: true, chunkSize: 4096 },
  },
} as const satisfies Record<string, Variant & { update: UpdateOptions }>;

/** The LZMA2 dictionary the RAM figures leave out (2^16, the largest the core accepts). */
const DICTIONARY = 65536;

export interface BuildFigures {
  readonly variant: Variant;
  readonly program: string;
  readonly objects: readonly ObjectSize[];
  readonly flash: number;
  readonly ram: number;
  readonly stack: number;
  /**
   * Instructions of whole boots (the boot program only): the one that installs into a trial, the next one
   * (no confirmation came, so it reverts: docs/BOOT.md §Revert), then one with nothing to do.
   */
  readonly boots?: {
    readonly install: number;
    readonly revert: number;
    readonly idle: number;
    readonly operations: number;
  };
}

/** Builds `variant` and measures flash, static RAM and the stack an install of 7.28.0 used. */
async function measureBuild(
  dir: string,
  variant: Variant & { update: UpdateOptions },
  program: string,
): Promise<BuildFigures> {
  await buildTarget(program, variant);
  const objects = await linkedSizes(program, variant);
  const device = await stagedDevice(dir, variant.update);
  const run = await runQemu(join(buildDir(variant), `${program}.elf`), {
    flash: device.flash,
    sectorSize: device.sectorSize,
    writeSize: device.writeSize,
    extra: [...device.words, `image=${device.imageBytes}`, `envelope=${device.envelopeBytes}`],
  });
  if (run.status !== STATUS.ok || run.stackBytes === undefined)
    throw new Error(`${program} (${variant.name}) failed:\n${run.output}`);
  let boots: BuildFigures['boots'];
  if (program === 'boot') {
    const boot = () =>
      runQemu(join(buildDir(variant), 'boot.elf'), {
        flash: device.flash,
        sectorSize: device.sectorSize,
        writeSize: device.writeSize,
        extra: device.words,
      });
    const revert = await boot();
    const idle = await boot();
    const count = (output: string) => Number(/^boot .*instructions=(\d+)/m.exec(output)?.[1] ?? Number.NaN);
    boots = {
      install: count(run.output),
      revert: count(revert.output),
      idle: count(idle.output),
      operations: run.operations ?? 0,
    };
  }
  return {
    ...(boots ? { boots } : {}),
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
  for (const variant of [VARIANTS.signed, VARIANTS.encrypted, VARIANTS.small]) {
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
  const lz16 = lzma.find((l) => l.log2 === 16);
  if (!lz16) throw new Error('no LZMA2 run at 2^16');
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
  const oneInstall = verify.instructions + envelope.instructions + unpack.instructions + readBack;
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
  const [signed, encrypted] = builds as [BuildFigures, BuildFigures, BuildFigures];
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
exactly (bench/cortex-m4.ts, ${relative(process.cwd(), TARGET_DIR)}). The signed-only and encrypted
builds take images packed with the default 16 KiB chunk (SIHL_CHUNK_MAX=16384); the third takes images
packed with \`--chunk-size 4096\` (SIHL_CHUNK_MAX=4096). Each stack high-water is that of an install of
Pybricks 7.28.0 packed with LZMA2 at a 2^16 dictionary. Program measured: ${program}.elf.${
      program === 'boot'
        ? ''
        : " (The core's boot is not linked yet; this program links the same core, ports and libraries around verify, envelope and unpack.)"
    }`,
    '',
    '| build | flash (text + rodata + data) | data + bss | stack high-water | RAM with the 64 KiB dictionary | RAM besides the dictionary |',
    '|---|---:|---:|---:|---:|---:|',
    ...builds.map(
      (b) =>
        `| ${b.variant.name} | ${grouped(b.flash)} B (${kib(b.flash)}) | ${grouped(b.ram)} B | ${grouped(b.stack)} B | ${grouped(b.ram + b.stack)} B (${kib(b.ram + b.stack)}) | ${grouped(b.ram + b.stack - DICTIONARY)} B (${kib(b.ram + b.stack - DICTIONARY)}) |`,
    ),
    '| MCUboot, Ed25519, nRF52840 | 39,918 B | | | | |',
    '| MCUboot, swap-using-offset, MCXW71 | 33,006 B | | | 21,880 B | |',
    '| MCUboot, ECDSA, upgrade-only | 13.8 KB | | | 17 KB | |',
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
    ...(encrypted.boots
      ? [
          `| a whole boot that installs it (measured: ${grouped(encrypted.boots.operations)} flash operations, which QEMU does at memory speed) | ${grouped(encrypted.boots.install)} | ${perByte(encrypted.boots.install, n)} | ${ms(encrypted.boots.install)} |`,
          `| the next boot without a confirmation: the trial reverted (the backup copied back and proven) | ${grouped(encrypted.boots.revert)} | | ${ms(encrypted.boots.revert)} |`,
          `| then a boot with nothing to do (reads the state, hashes the slot to prove it) | ${grouped(encrypted.boots.idle)} | | ${ms(encrypted.boots.idle)} |`,
        ]
      : []),
    `| the sum of the steps: verify, envelope, one unpack pass and the read-back SHA-256 (the backup copy not included) | ${grouped(Math.round(oneInstall))} | ${perByte(oneInstall, n)} | ${ms(oneInstall)} |`,
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
    `Where the RAM goes in the default build (SIHL_CHUNK_MAX=65536; the core's struct sihl_work, field by field,
all in .bss): ${Object.entries(full.work)
      .filter(([k]) => k !== 'total')
      .map(([k, v]) => `${k} ${grouped(v)} B`)
      .join(
        ', ',
      )}; ${grouped(full.work.total ?? 0)} B in all. The LZMA2 decoder uses ${grouped(lz16.memory)} B of its
${grouped(full.work.decoder ?? 0)}-byte arena at a 2^16 dictionary: ${grouped(lz16.memory - DICTIONARY)} B of state besides the dictionary, most of it
xz-embedded's literal probability tables, sized for lc + lp ≤ 4 (16 × 768 × 2 bytes).`,
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
