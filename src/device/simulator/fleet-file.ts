// Many simulated devices made at once and kept in one folder, for `sihl sim fleet`: made before a release
// is published (so their envelopes are sealed with it), run later. fleet.json says what they are (model,
// factory firmware and version, flash geometry and layout, each device's registry index and id);
// firmware.bin is the factory firmware; devices.bin holds each device's own sectors (boot state, secure
// element, staging), erased tails left out. The executable slot is rebuilt from firmware.bin.
// As with one simulated device, the device keys are readable here: it is a simulation.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { naming, SihlError } from '../../core/errors.ts';
import { ByteReader, ByteWriter } from '../../core/format/bytes.ts';
import type { KeySet } from '../../core/format/signatures.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { checkLayout, type Layout } from '../bootloader/layout.ts';
import { ERASED, type FlashGeometry } from '../flash/flash.ts';
import { checkGeometry } from '../flash/simulated-flash.ts';
import { type ParkedFlash, parkFlash, type SectorPool } from './parked-flash.ts';
import { SimulatedDevice } from './simulated-device.ts';

export interface FleetMember {
  /** Registry index: the device's slot in envelope tables. */
  readonly idx: number;
  readonly id: string;
  readonly flash: ParkedFlash;
}

export interface SimulatedFleet {
  readonly model: string;
  /** Version of the factory firmware. */
  readonly version: string;
  readonly geometry: FlashGeometry;
  readonly layout: Layout;
  readonly firmware: Uint8Array;
  readonly members: FleetMember[];
}

/** A device made at the factory, with the public keys the registry needs. */
export interface MadeDevice {
  readonly sign: Uint8Array;
  readonly box: Uint8Array;
  readonly flash: ParkedFlash;
}

const FILES = { description: 'fleet.json', firmware: 'firmware.bin', devices: 'devices.bin' };
const DEVICES_MAX_BYTES = 2 ** 31;

/** Makes `count` devices running `firmware`, each with its own keys made in its secure element. */
export async function makeDevices(options: {
  readonly model: string;
  readonly root: KeySet;
  readonly firmware: Uint8Array;
  readonly version: string;
  readonly count: number;
  readonly pool: SectorPool;
  readonly slotSize?: number;
}): Promise<{ geometry: FlashGeometry; layout: Layout; devices: MadeDevice[] }> {
  const devices: MadeDevice[] = [];
  let shape: { geometry: FlashGeometry; layout: Layout } | undefined;
  for (let n = 0; n < options.count; n++) {
    const device = await SimulatedDevice.create({
      model: options.model,
      root: options.root,
      firmware: options.firmware,
      version: options.version,
      // A slot with a quarter to spare, not the default 1 MiB: ten thousand flashes stay small.
      slotSize: options.slotSize ?? Math.ceil((options.firmware.length * 1.25) / 4096) * 4096,
    });
    shape ??= { geometry: device.flash.geometry, layout: device.layout };
    const { sign, box } = device.secureElement.identity();
    devices.push({ sign, box, flash: parkFlash(device.flash, device.layout, options.pool) });
  }
  if (!shape) throw new SihlError('USAGE', 'a fleet needs at least one device');
  return { ...shape, devices };
}

function executableSectors(fleet: Pick<SimulatedFleet, 'geometry' | 'layout'>): Set<number> {
  const { sectorSize } = fleet.geometry;
  const { offset, size } = fleet.layout.executable;
  const set = new Set<number>();
  for (let at = offset; at < offset + size; at += sectorSize) set.add(at / sectorSize);
  return set;
}

export async function saveFleet(dir: string, fleet: SimulatedFleet): Promise<void> {
  await mkdir(dir, { recursive: true });
  const skip = executableSectors(fleet);
  const w = new ByteWriter();
  for (const member of fleet.members) {
    member.flash.sectors.forEach((bytes, s) => {
      const own = skip.has(s) ? new Uint8Array(0) : bytes;
      w.u32(own.length).bytes(own);
    });
  }
  await writeFileAtomic(join(dir, FILES.devices), w.finish(), { overwrite: true, mode: 0o600 });
  await writeFileAtomic(join(dir, FILES.firmware), fleet.firmware, { overwrite: true });
  const description = {
    sihl: 'simulated-fleet',
    version: 1,
    model: fleet.model,
    firmwareVersion: fleet.version,
    geometry: fleet.geometry,
    layout: fleet.layout,
    devices: fleet.members.map((m) => [m.idx, m.id]),
  };
  await writeFileAtomic(join(dir, FILES.description), `${JSON.stringify(description)}\n`, {
    overwrite: true,
  });
}

async function read(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw naming(path, error);
  }
}

/** The first `limit` devices (all by default) of the fleet saved in `dir`. */
export async function loadFleet(dir: string, pool: SectorPool, limit?: number): Promise<SimulatedFleet> {
  const path = join(dir, FILES.description);
  let d: {
    sihl?: unknown;
    model: string;
    firmwareVersion: string;
    geometry: FlashGeometry;
    layout: Layout;
    devices: [number, string][];
  };
  try {
    d = JSON.parse(Buffer.from(await read(path)).toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new SihlError('USAGE', 'fleet.json is not JSON', { subject: path });
    throw error;
  }
  if (
    d?.sihl !== 'simulated-fleet' ||
    typeof d.model !== 'string' ||
    typeof d.firmwareVersion !== 'string' ||
    !Array.isArray(d.devices)
  ) {
    throw new SihlError('USAGE', 'not a simulated fleet', { subject: path });
  }
  const geometry = checkGeometry(d.geometry);
  checkLayout(d.layout, geometry);
  const firmware = await read(join(dir, FILES.firmware));
  if (firmware.length > d.layout.executable.size)
    throw new SihlError('USAGE', 'firmware.bin does not fit the executable slot', { subject: dir });
  // The executable slot as the factory wrote it, shared by every device (the last write unit padded).
  const slot = new Uint8Array(d.layout.executable.size).fill(ERASED);
  slot.set(firmware);
  const { sectorSize } = geometry;
  const skip = executableSectors({ geometry, layout: d.layout });
  const count = Math.min(limit ?? d.devices.length, d.devices.length);
  const devicesPath = join(dir, FILES.devices);
  const bytes = await read(devicesPath);
  if (bytes.length > DEVICES_MAX_BYTES) throw new SihlError('LIMIT_EXCEEDED', 'devices.bin is too large');
  const r = new ByteReader(bytes, 'USAGE', devicesPath);
  const members: FleetMember[] = [];
  const sectors = geometry.size / sectorSize;
  for (let n = 0; n < count; n++) {
    const [idx, id] = d.devices[n] ?? [];
    if (!Number.isSafeInteger(idx) || typeof id !== 'string')
      throw new SihlError('USAGE', `device ${n} is not [idx, id]`, { subject: path });
    const own: Uint8Array[] = [];
    for (let s = 0; s < sectors; s++) {
      const length = r.u32();
      if (length > sectorSize) r.fail(`a sector of ${length} bytes`);
      const stored = r.bytes(length).slice();
      if (!skip.has(s)) {
        own.push(stored);
        continue;
      }
      const from = s * sectorSize - d.layout.executable.offset;
      let end = from + sectorSize;
      while (end > from && slot[end - 1] === ERASED) end--;
      own.push(end === from ? new Uint8Array(0) : pool.intern(slot.subarray(from, end)));
    }
    members.push({
      idx: idx as number,
      id,
      flash: { geometry, sectors: own, erases: new Uint32Array(sectors) },
    });
  }
  if (count === d.devices.length && r.remaining !== 0) r.fail('bytes after the last device');
  return {
    model: d.model,
    version: d.firmwareVersion,
    geometry,
    layout: d.layout,
    firmware,
    members,
  };
}

/** Whether a fleet is saved in `dir`. */
export function fleetDescriptionPath(dir: string): string {
  return join(dir, FILES.description);
}
