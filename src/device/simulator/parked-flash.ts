// A simulated flash put away while its device sleeps, so ten thousand devices fit in one process: erased
// bytes at the end of each sector are not kept, and sectors of the executable and backup slots (the same
// firmware on every device) are shared through a pool keyed by their SHA-256. A device's own sectors
// (boot state, secure element, a staged download) stay its own copies. Unparking gives back the flash
// byte for byte.
import { sha256 } from '../../core/crypto/hash.ts';
import { toHex } from '../../core/format/bytes.ts';
import type { Layout } from '../bootloader/layout.ts';
import { ERASED, type FlashGeometry, type Region } from '../flash/flash.ts';
import { SimulatedFlash } from '../flash/simulated-flash.ts';

/** Sectors that many devices hold alike, kept once. */
export class SectorPool {
  readonly #sectors = new Map<string, Uint8Array>();

  intern(bytes: Uint8Array): Uint8Array {
    const key = toHex(sha256(bytes));
    const known = this.#sectors.get(key);
    if (known) return known;
    const copy = bytes.slice();
    this.#sectors.set(key, copy);
    return copy;
  }

  get size(): number {
    return this.#sectors.size;
  }
}

export interface ParkedFlash {
  readonly geometry: FlashGeometry;
  /** Per sector, its bytes up to the last one not erased (shared for pooled sectors); empty when erased. */
  readonly sectors: readonly Uint8Array[];
  readonly erases: Uint32Array;
}

const EMPTY = new Uint8Array(0);

function inside(sector: number, sectorSize: number, region: Region): boolean {
  const at = sector * sectorSize;
  return at >= region.offset && at < region.offset + region.size;
}

/** Sectors that hold firmware, alike on many devices. */
const pooled = (sector: number, sectorSize: number, layout: Layout) =>
  inside(sector, sectorSize, layout.executable) || inside(sector, sectorSize, layout.backup);

/** The used part of a sector: up to its last byte that is not erased. */
function trimmed(memory: Uint8Array, from: number, to: number): Uint8Array {
  let end = to;
  while (end > from && memory[end - 1] === ERASED) end--;
  return end === from ? EMPTY : memory.slice(from, end);
}

export function parkFlash(flash: SimulatedFlash, layout: Layout, pool: SectorPool): ParkedFlash {
  const { sectorSize, size } = flash.geometry;
  const sectors: Uint8Array[] = [];
  for (let s = 0; s < size / sectorSize; s++) {
    const from = s * sectorSize;
    const used = trimmed(flash.memory, from, from + sectorSize);
    sectors.push(used.length > 0 && pooled(s, sectorSize, layout) ? pool.intern(used) : used);
  }
  return { geometry: flash.geometry, sectors, erases: flash.erases.slice() };
}

export function unparkFlash(parked: ParkedFlash): SimulatedFlash {
  const { sectorSize, size } = parked.geometry;
  const memory = new Uint8Array(size).fill(ERASED);
  parked.sectors.forEach((bytes, s) => {
    memory.set(bytes, s * sectorSize);
  });
  return new SimulatedFlash(parked.geometry, memory, parked.erases.slice());
}

/** Bytes a parked flash holds of its own (pooled sectors not counted). */
export function parkedBytes(parked: ParkedFlash, layout: Layout): number {
  const { sectorSize } = parked.geometry;
  return parked.sectors.reduce(
    (sum, bytes, s) => sum + (pooled(s, sectorSize, layout) ? 0 : bytes.length),
    0,
  );
}
