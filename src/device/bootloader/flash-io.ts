// Reading images out of flash, writing firmware into it and copying slots, in the bootloader's fixed
// buffers.

import { Sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import type { ByteSource } from '../../core/image/source.ts';
import { ERASED, type Flash, isErased, type Region } from '../flash/flash.ts';

/** A window of flash as a ByteSource; records the largest read (the largest single buffer, not a total). */
export function flashSource(flash: Flash, region: Region, size: number, meter: Meter): ByteSource {
  return {
    size,
    read: async (offset, length, buffer) => {
      if (offset < 0 || offset + length > size) throw new RangeError('read outside the staged image');
      meter.note(length);
      return flash.read(region.offset + offset, length, buffer);
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
 * through one sector-sized buffer, and read back right after: a sector that does not hold what was
 * written stops the writer (docs/BOOT.md §Install step 12). `finish` pads the last sector with 0xFF.
 */
export class SectorWriter {
  readonly #flash: Flash;
  readonly #region: Region;
  readonly #buffer: Uint8Array;
  /** Where a written sector is read back. */
  readonly #check: Uint8Array;
  #filled = 0;
  #sector = 0;
  written = 0;

  constructor(flash: Flash, region: Region, meter: Meter) {
    this.#flash = flash;
    this.#region = region;
    this.#buffer = new Uint8Array(flash.geometry.sectorSize);
    this.#check = new Uint8Array(flash.geometry.sectorSize);
    meter.note(this.#buffer.length);
  }

  async write(data: Uint8Array): Promise<void> {
    const sector = this.#buffer.length;
    let at = 0;
    while (at < data.length) {
      const take = Math.min(data.length - at, sector - this.#filled);
      if (this.written + take > this.#region.size)
        throw new RangeError('firmware larger than the executable slot');
      this.written += take;
      if (take === sector) {
        // A whole sector of the stream is written from where it is, without a copy into the buffer.
        this.#program(data.subarray(at, at + take));
      } else {
        this.#buffer.set(data.subarray(at, at + take), this.#filled);
        this.#filled += take;
        if (this.#filled === sector) this.#program(this.#buffer);
      }
      at += take;
    }
  }

  /** Erases the next sector, writes `bytes` into it in one write and reads them back. */
  #program(bytes: Uint8Array): void {
    const offset = this.#region.offset + this.#sector * this.#buffer.length;
    this.#flash.erase(offset);
    this.#flash.write(offset, bytes);
    if (Buffer.compare(this.#flash.read(offset, bytes.length, this.#check), bytes) !== 0) {
      // Flash that does not hold what was written: the caller's state stays as it was, to write again.
      throw new SihlError('INTERNAL', `the sector at ${offset} does not read back as written`);
    }
    this.#sector++;
    this.#filled = 0;
  }

  /** Writes what is left, padded with 0xFF to a write-size multiple; returns how many sectors were written. */
  finish(): number {
    if (this.#filled > 0) {
      const { writeSize } = this.#flash.geometry;
      const length = Math.ceil(this.#filled / writeSize) * writeSize;
      this.#buffer.fill(ERASED, this.#filled, length);
      this.#program(this.#buffer.subarray(0, length));
    }
    return this.#sector;
  }
}

/**
 * Erases the sectors of a region that start at or after `from` and before `to`, skipping those that
 * are already erased (reading is free; erasing wears the flash and takes time). A sector whose first
 * word is not erased needs no more reading; only one whose first word is erased is read whole.
 */
export function eraseRange(flash: Flash, region: Region, from: number, to: number): void {
  const { sectorSize, writeSize } = flash.geometry;
  const buffer = new Uint8Array(sectorSize);
  for (let at = Math.ceil(from / sectorSize) * sectorSize; at < Math.min(to, region.size); at += sectorSize) {
    const erased =
      isErased(flash.read(region.offset + at, writeSize, buffer)) &&
      isErased(flash.read(region.offset + at, sectorSize, buffer));
    if (!erased) flash.erase(region.offset + at);
  }
}

/** SHA-256 of a region's first `size` bytes, read one sector at a time. */
export function digestOf(flash: Flash, region: Region, size: number, meter: Meter): Uint8Array {
  const hash = new Sha256();
  const step = flash.geometry.sectorSize;
  meter.note(Math.min(step, size));
  const buffer = new Uint8Array(step);
  for (let at = 0; at < size; at += step)
    hash.update(flash.read(region.offset + at, Math.min(step, size - at), buffer));
  return hash.digest();
}

/**
 * Copies the first `size` bytes of one slot into another, sector by sector: a sector that already holds
 * the same bytes is left alone (a copy redone after a power cut), any other is erased and written in
 * one write. The rest of the last sector is copied too, so the copy is the source's sectors exactly.
 * Returns the SHA-256 of the source's first `size` bytes, as read for the copy.
 */
export function copySlot(flash: Flash, from: Region, to: Region, size: number, meter: Meter): Uint8Array {
  const { sectorSize } = flash.geometry;
  meter.note(sectorSize);
  const hash = new Sha256();
  const [sourceBuffer, targetBuffer] = [new Uint8Array(sectorSize), new Uint8Array(sectorSize)];
  for (let at = 0; at < size; at += sectorSize) {
    const source = flash.read(from.offset + at, sectorSize, sourceBuffer);
    hash.update(source.subarray(0, Math.min(sectorSize, size - at)));
    if (Buffer.compare(source, flash.read(to.offset + at, sectorSize, targetBuffer)) === 0) continue;
    flash.erase(to.offset + at);
    if (!isErased(source)) flash.write(to.offset + at, source);
  }
  return hash.digest();
}
