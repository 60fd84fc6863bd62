// The C bootloader's libFuzzer harnesses (bootloader/fuzz/): their seed corpora, cut from the images
// of docs/vectors, and one bounded run of a harness. Used by npm run fuzz:c and by the seeded pass in
// test/bootloader/c-host.test.ts. No node:test here.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { here } from '../../docs/vectors/generate.ts';
import { decodeManifest, type Manifest } from '../../src/core/format/manifest.ts';
import { lockedMake } from '../../src/device/simulator/c-bootloader.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { pack, seeded, syntheticFirmware, trust } from '../device/support.ts';
import { BOOTLOADER_DIR, run } from './c-host.ts';

export const FUZZ_TARGETS = [
  'header',
  'manifest',
  'signatures',
  'delegation',
  'root_chain',
  'envelope',
  'lzma',
  'brotli',
  'image',
  'boot_state',
] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];

export const FUZZ_DIR = join(BOOTLOADER_DIR, 'build', 'fuzz');

/** Builds the harnesses (clang, libFuzzer, ASan and UBSan); throws with the compiler's output. */
export async function buildFuzzers(): Promise<void> {
  const made = await lockedMake(['-j2', 'fuzz']);
  if (made.code !== 0) throw new Error(`make fuzz failed:\n${made.stdout}${made.stderr}`);
}

/** Writes each harness's seeds (the parts of every vector image in the form its harness reads). */
export async function writeSeeds(): Promise<Record<FuzzTarget, string>> {
  const dirs = Object.fromEntries(FUZZ_TARGETS.map((t) => [t, join(FUZZ_DIR, 'seeds', t)])) as Record<
    FuzzTarget,
    string
  >;
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
  const names = (await readdir(here)).sort();
  let n = 0;
  const put = (target: FuzzTarget, bytes: Uint8Array) => writeFile(join(dirs[target], `seed-${n++}`), bytes);
  for (const name of names) {
    const bytes = Buffer.from(await readFile(join(here, name)));
    if (name.endsWith('.envelope')) {
      await put('envelope', Buffer.concat([bytes, Uint8Array.of(1)]));
      continue;
    }
    if (!name.endsWith('.sihl') || bytes.length < 32) continue;
    await put('image', bytes);
    await put('header', Buffer.concat([bytes.subarray(0, 32), Buffer.alloc(8)]));
    const lengths = [8, 12, 16, 20].map((at) => bytes.readUInt32LE(at));
    const [manifest, delegation, signatures, chain] = lengths as [number, number, number, number];
    const ends = [32 + manifest, 32 + manifest + delegation, 32 + manifest + delegation + signatures];
    const chainEnd = (ends[2] as number) + chain;
    const manifestBytes = bytes.subarray(32, ends[0]);
    const delegationBytes = bytes.subarray(ends[0], ends[1]);
    const signatureBytes = bytes.subarray(ends[1], ends[2]);
    const chainBytes = bytes.subarray(ends[2], chainEnd);
    const payload = bytes.subarray(chainEnd);
    await put('manifest', manifestBytes);
    await put('delegation', delegationBytes);
    const message = Buffer.concat([Buffer.from('sihl/v1/image\0'), manifestBytes]);
    await put(
      'signatures',
      Buffer.concat([Uint8Array.of((signatureBytes.length - 4) / 4), signatureBytes, message]),
    );
    if (chainBytes.length > 0) await put('root_chain', chainBytes);
    // byte 0: 2^14 dictionary (12 + 2) and the Thumb filter (1), as the LZMA2 vectors are packed
    if (manifestBytes.includes(Buffer.from([0x08, 0x0b, 0x00, 0x02])))
      await put('lzma', Buffer.concat([Uint8Array.of(7), payload]));
    const stream = brotliStream(manifestBytes, payload);
    // byte 0: the window (10 + byte % 7) and filter ((byte / 7) % 3) the vector signed, through
    // sihl_unpack; the same plus 21 straight to the decoder with a small arena
    if (stream)
      for (const mode of [0, 21])
        await put('brotli', Buffer.concat([Uint8Array.of(stream.head + mode), stream.bytes]));
  }
  for (const area of await bootStateAreas()) await put('boot_state', area);
  // Each input a harness once found a fault with, kept as a regression case (bootloader/fuzz/regressions/).
  for (const target of FUZZ_TARGETS) {
    const kept = join(BOOTLOADER_DIR, 'fuzz', 'regressions', target);
    for (const name of existsSync(kept) ? await readdir(kept) : [])
      await put(target, await readFile(join(kept, name)));
  }
  return dirs;
}

/**
 * Boot-state areas (two 4 KiB sectors) as the TypeScript bootloader and agent write them: idle,
 * pending, every phase of an install cut by power at a spread of operations (completed and torn), the
 * trial, its confirmation and its revert, a refusal.
 */
async function bootStateAreas(): Promise<Uint8Array[]> {
  const firmware = syntheticFirmware(20_000, 16);
  const device = await SimulatedDevice.create({
    model: 'technichub',
    root: trust.root,
    firmware,
    version: '1.0.0',
    sectorSize: 4096,
    writeSize: 8,
  });
  const areaOf = (d: SimulatedDevice) => d.flash.read(d.layout.bootState.offset, d.layout.bootState.size);
  const areas = [areaOf(device)];
  const image = await pack(syntheticFirmware(30_000, 17), { version: '1.1.0', encrypt: false });
  device.stage(image.bytes);
  areas.push(areaOf(device));
  for (let k = 1; k < 60; k += 4) {
    const cut = device.clone();
    cut.flash.cutPower({ after: k, tear: k % 8 === 1, random: seeded(k) });
    await cut.boot().catch(() => undefined);
    cut.flash.powerOn();
    areas.push(areaOf(cut));
  }
  const trial = device.clone();
  await trial.boot();
  areas.push(areaOf(trial));
  const confirmed = trial.clone();
  confirmed.confirm();
  areas.push(areaOf(confirmed));
  await trial.boot();
  areas.push(areaOf(trial));
  const refused = confirmed.clone();
  refused.stage(image.bytes); // the same version again: VERSION_ROLLBACK at the boot
  await refused.boot();
  areas.push(areaOf(refused));
  return areas;
}

/** A signed-only Brotli vector's compressed stream (its pieces without the chain's links), or null. */
function brotliStream(
  manifestBytes: Uint8Array,
  payload: Uint8Array,
): { head: number; bytes: Buffer } | null {
  let manifest: Manifest;
  try {
    manifest = decodeManifest(manifestBytes);
  } catch {
    return null;
  }
  const { algorithm, windowLog, filter, compressedSize } = manifest.compression;
  if (algorithm !== 'brotli' || manifest.encryption.algorithm !== 'none') return null;
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += manifest.chunkSize + 32)
    pieces.push(payload.subarray(at, at + manifest.chunkSize));
  const bytes = Buffer.concat(pieces).subarray(0, compressedSize);
  return { head: windowLog - 10 + 7 * ['none', 'thumb', 'arm'].indexOf(filter), bytes };
}

export interface FuzzRun {
  readonly target: FuzzTarget;
  readonly executions: number;
  readonly crashed: boolean;
  readonly output: string;
}

/** One harness for `seconds` (0: each seed once), from its seeds and the corpus it grew before. */
export async function fuzz(target: FuzzTarget, seeds: string, seconds: number): Promise<FuzzRun> {
  const corpus = join(FUZZ_DIR, 'corpus', target);
  const artifacts = join(FUZZ_DIR, 'artifacts', target);
  await mkdir(corpus, { recursive: true });
  await mkdir(artifacts, { recursive: true });
  const args = [
    join(FUZZ_DIR, `fuzz-${target}`),
    ...(seconds > 0 ? [`-max_total_time=${seconds}`] : ['-runs=0']),
    '-print_final_stats=1',
    '-timeout=10',
    '-rss_limit_mb=1024',
    '-max_len=20000',
    `-artifact_prefix=${artifacts}/`,
    corpus,
    seeds,
  ];
  const result = await run('nice', args, (seconds + 120) * 1000);
  const output = result.stdout + result.stderr;
  const executions = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? 0);
  return { target, executions, crashed: result.code !== 0, output };
}
