// Reading images out of flash and writing firmware into it, in the bootloader's fixed buffers.
import type { ByteSource } from '../../core/image/source.ts';
import { ERASED, type Flash, type Region } from '../flash/flash.ts';

/** A window of flash as a ByteSource; records the largest read (the largest single buffer, not a total). */
export function flashSource(flash: Flash, region: Region, size: number, meter: Meter): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      if (offset < 0 || offset + length > size) throw new RangeError('read outside the staged image');
      meter.note(length);
      return flash.read(region.offset + offset, length);
    },
  };
}

/** The largest buffer the bootloader held at once, in bytes. */
export class Meter {
  highWater = 0;

  note(bytes: number): void {
    if (bytes > this.highWater) this.highWater = bytes;
  }
}

/**
 * Writes a stream into a region sector by sector: each sector is erased just before it is written,
 * through one sector-sized buffer. `finish` pads the last sector with 0xFF.
 */
export class SectorWriter {
  readonly #flash: Flash;
  readonly #region: Region;
  readonly #buffer: Uint8Array;
  #filled = 0;
  #sector = 0;
  written = 0;

  constructor(flash: Flash, region: Region, meter: Meter) {
    this.#flash = flash;
    this.#region = region;
    this.#buffer = new Uint8Array(flash.geometry.sectorSize);
    meter.note(this.#buffer.length);
  }

  async write(data: Uint8Array): Promise<void> {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(data.length - at, this.#buffer.length - this.#filled);
      if (this.written + take > this.#region.size)
        throw new RangeError('firmware larger than the executable slot');
      this.#buffer.set(data.subarray(at, at + take), this.#filled);
      this.#filled += take;
      this.written += take;
      at += take;
      if (this.#filled === this.#buffer.length) this.#flush();
    }
  }

  #flush(): void {
    const { writeSize } = this.#flash.geometry;
    const offset = this.#region.offset + this.#sector * this.#buffer.length;
    const length = Math.ceil(this.#filled / writeSize) * writeSize;
    this.#buffer.fill(ERASED, this.#filled, length);
    this.#flash.erase(offset);
    this.#flash.write(offset, this.#buffer.subarray(0, length));
    this.#sector++;
    this.#filled = 0;
  }

  /** Writes what is left; returns how many sectors were written. */
  finish(): number {
    if (this.#filled > 0) this.#flush();
    return this.#sector;
  }
}

/**
 * Erases the sectors of a region that start at or after `from` and before `to`, skipping those that
 * are already erased (reading is free; erasing wears the flash and takes time).
 */
export function eraseRange(flash: Flash, region: Region, from: number, to: number): void {
  const { sectorSize } = flash.geometry;
  for (let at = Math.ceil(from / sectorSize) * sectorSize; at < Math.min(to, region.size); at += sectorSize) {
    const sector = flash.read(region.offset + at, sectorSize);
    if (!sector.every((b) => b === ERASED)) flash.erase(region.offset + at);
  }
}
