// The device side of the benchmark: a packed image installed by the bootloader into a simulated device,
// with the flash work it took, beside a decode of the same image that writes nothing.
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { openEnvelope, sealEnvelope } from '../src/core/format/envelope.ts';
import { streamBinding } from '../src/core/format/manifest.ts';
import { unpackPayload, verifyImage, withFileSource } from '../src/core/image/index.ts';
import { SimulatedDevice } from '../src/device/simulator/simulated-device.ts';
import { hashFile } from './input.ts';
import type { BenchTrust } from './keys.ts';

const MIB = 1024 * 1024;
/** The firmware the device runs before the update: the start of the input. */
const OLD_FIRMWARE = MIB;
/** The executable slot is this much larger than the new firmware (staging is sized from it). */
const SLOT_SPARE = MIB;
const SECTOR_SIZE = 4096;
const WRITE_SIZE = 8;

export interface Timed {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

export interface DeviceOutcome {
  readonly bytes: number;
  readonly outputBytes: number;
  readonly details: Record<string, string | number>;
  /** The clock of the part that counts, when setting up must not. */
  readonly timed?: Timed;
}

/**
 * Decrypt and decompress alone: what unpack does (every chunk authenticated by the chain as it is
 * read), into a sink that drops everything; the signatures are checked, the chain is not walked twice.
 */
export async function decode(trust: BenchTrust, image: string): Promise<DeviceOutcome> {
  const envelope = new Uint8Array(await readFile(`${image}.envelope`));
  return withFileSource(image, async (source) => {
    const verified = await verifyImage(source, { root: trust.root }, { model: 'bench', payload: false });
    const key = openEnvelope(envelope, trust.device, streamBinding(verified.manifestBytes));
    await unpackPayload(source, verified, key, { write: async () => {} });
    const size = verified.manifest.plaintextSize;
    return { bytes: size, outputBytes: 0, details: {} };
  });
}

async function readStart(path: string, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const out = new Uint8Array(Math.min(length, size));
    await handle.read(out, 0, out.length, 0);
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * A device running the first MiB of the input is given the image and a key envelope sealed to its own
 * secure element (the content key comes out of the bench device's envelope that pack wrote); only its
 * boot, the install, is timed.
 */
export async function install(trust: BenchTrust, image: string, input: string): Promise<DeviceOutcome> {
  const { size } = await stat(input);
  const device = await SimulatedDevice.create({
    model: 'bench',
    root: trust.root,
    firmware: await readStart(input, OLD_FIRMWARE),
    version: '0.9.0',
    sectorSize: SECTOR_SIZE,
    writeSize: WRITE_SIZE,
    slotSize: size + SLOT_SPARE,
  });
  const imageBytes = new Uint8Array(await readFile(image));
  const verified = await withFileSource(image, (source) =>
    verifyImage(source, { root: trust.root }, { model: 'bench' }),
  );
  const binding = streamBinding(verified.manifestBytes);
  const contentKey = openEnvelope(new Uint8Array(await readFile(`${image}.envelope`)), trust.device, binding);
  device.stage(imageBytes, sealEnvelope(contentKey, binding, device.secureElement.identity().box));
  contentKey.fill(0);

  const { flash } = device;
  const before = {
    writes: flash.writes,
    erasures: flash.erasures,
    operations: flash.operations,
    bytesRead: flash.bytesRead,
  };
  const wear = flash.erases.slice();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const report = await device.boot();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const bytesRead = flash.bytesRead - before.bytesRead;

  if (report.outcome !== 'booted' || !report.installed || !report.intact || report.running.size !== size) {
    throw new Error(`the device did not install the image: ${JSON.stringify(report)}`);
  }
  const installed = createHash('sha256').update(device.executable(size)).digest('hex');
  if (installed !== (await hashFile(input))) throw new Error('the executable slot differs from the input');
  let mostErases = 0;
  flash.erases.forEach((count, sector) => {
    mostErases = Math.max(mostErases, count - (wear[sector] as number));
  });
  return {
    bytes: size,
    outputBytes: size,
    details: {
      writes: flash.writes - before.writes,
      erasures: flash.erasures - before.erasures,
      operations: flash.operations - before.operations,
      bytesRead,
      oldFirmware: OLD_FIRMWARE,
      mostErasesOfOneSector: mostErases,
      highWater: report.highWater,
      sectorSize: SECTOR_SIZE,
      stagedBytes: imageBytes.length,
    },
    timed: { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 },
  };
}
