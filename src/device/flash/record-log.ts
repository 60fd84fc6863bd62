// An append-only log of small records in two flash sectors, the way flash wants state kept: a record
// is written once into erased space and never rewritten; the newest valid record is the state. A
// record torn by a power cut fails its checksum and is skipped. When the sector in use is full, the
// other sector is erased and the new record goes first in it; the log goes on there.
//
// Record: magic "SR" (2) | payload length u16 | sequence u32 | payload | CRC-32 u32 over all before it;
// padded with 0xFF to the record size. Sequence numbers compare in serial-number arithmetic (RFC 1982),
// so they wrap from 0xFFFFFFFF to 0 without a record staying "newest" for ever. A reader may also
// refuse records it cannot authenticate: they count as garbage. docs/BOOT.md §Record log.
import { crc32 } from 'node:zlib';
import { SihlError } from '../../core/errors.ts';
import { ERASED, type Flash, isErased, type Region } from './flash.ts';

const MAGIC_0 = 0x53;
const MAGIC_1 = 0x52;
const OVERHEAD = 12;

export interface LogRecord {
  readonly sequence: number;
  readonly payload: Uint8Array;
}

type Slot = { kind: 'empty' } | { kind: 'garbage' } | { kind: 'valid'; record: LogRecord };

/** Decides whether a record whose checksum passed is the owner's (e.g. its tag verifies). */
export type RecordCheck = (record: LogRecord) => boolean;

/** `a` is newer than `b` in serial-number arithmetic: 1 ≤ (a − b) mod 2^32 < 2^31. */
export function newerSequence(a: number, b: number): boolean {
  const distance = (a - b) >>> 0;
  return distance !== 0 && distance < 0x8000_0000;
}

export class RecordLog {
  readonly #flash: Flash;
  readonly #region: Region;
  readonly #recordSize: number;
  readonly #perSector: number;
  readonly #check: RecordCheck;

  constructor(flash: Flash, region: Region, recordSize: number, check: RecordCheck = () => true) {
    const { sectorSize, writeSize } = flash.geometry;
    if (region.size !== 2 * sectorSize || region.offset % sectorSize !== 0) {
      throw new SihlError('INTERNAL', 'a record log needs exactly two whole sectors');
    }
    if (recordSize % writeSize !== 0 || recordSize <= OVERHEAD || sectorSize % recordSize !== 0) {
      throw new SihlError('INTERNAL', `record size ${recordSize} does not fit the flash geometry`);
    }
    this.#flash = flash;
    this.#region = region;
    this.#recordSize = recordSize;
    this.#perSector = sectorSize / recordSize;
    this.#check = check;
  }

  get maxPayload(): number {
    return this.#recordSize - OVERHEAD;
  }

  #slotOffset(sector: number, index: number): number {
    return this.#region.offset + sector * this.#flash.geometry.sectorSize + index * this.#recordSize;
  }

  #readSlot(sector: number, index: number): Slot {
    const bytes = this.#flash.read(this.#slotOffset(sector, index), this.#recordSize);
    if (isErased(bytes)) return { kind: 'empty' };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const length = view.getUint16(2, true);
    if (bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1 || length > this.maxPayload) return { kind: 'garbage' };
    if (crc32(bytes.subarray(0, 8 + length)) !== view.getUint32(8 + length, true)) return { kind: 'garbage' };
    const record = { sequence: view.getUint32(4, true), payload: bytes.slice(8, 8 + length) };
    return this.#check(record) ? { kind: 'valid', record } : { kind: 'garbage' };
  }

  /** Every slot of both sectors, read once. */
  #scan(): Slot[][] {
    return [0, 1].map((sector) =>
      Array.from({ length: this.#perSector }, (_, i) => this.#readSlot(sector, i)),
    );
  }

  #newest(slots: Slot[][]): { record: LogRecord; sector: number } | null {
    let best: { record: LogRecord; sector: number } | null = null;
    slots.forEach((sector, s) => {
      for (const slot of sector) {
        if (slot.kind === 'valid' && (!best || newerSequence(slot.record.sequence, best.record.sequence)))
          best = { record: slot.record, sector: s };
      }
    });
    return best;
  }

  /** The newest valid record, or null when the log holds none (new, erased or garbage). */
  latest(): LogRecord | null {
    return this.#newest(this.#scan())?.record ?? null;
  }

  #encode(sequence: number, payload: Uint8Array): Uint8Array {
    if (payload.length > this.maxPayload) throw new SihlError('INTERNAL', 'record payload too large');
    const bytes = new Uint8Array(this.#recordSize).fill(ERASED);
    const view = new DataView(bytes.buffer);
    bytes[0] = MAGIC_0;
    bytes[1] = MAGIC_1;
    view.setUint16(2, payload.length, true);
    view.setUint32(4, sequence, true);
    bytes.set(payload, 8);
    view.setUint32(8 + payload.length, crc32(bytes.subarray(0, 8 + payload.length)), true);
    return bytes;
  }

  /**
   * Appends a record after the newest one; compacts into the other sector when this one is full. The
   * payload may be a function of the record's sequence number (a tag that covers it).
   */
  append(payload: Uint8Array | ((sequence: number) => Uint8Array)): void {
    const slots = this.#scan();
    const newest = this.#newest(slots);
    const sequence = newest ? (newest.record.sequence + 1) >>> 0 : 1;
    const bytes = typeof payload === 'function' ? payload(sequence) : payload;
    const sector = newest?.sector ?? 0;
    const used = slots[sector] as Slot[];
    // After the last slot that is not empty: never write where anything, even garbage, was written.
    let next = used.length;
    while (next > 0 && (used[next - 1] as Slot).kind === 'empty') next--;
    if (next < this.#perSector) {
      this.#flash.write(this.#slotOffset(sector, next), this.#encode(sequence, bytes));
      return;
    }
    const other = 1 - sector;
    this.#flash.erase(this.#slotOffset(other, 0));
    this.#flash.write(this.#slotOffset(other, 0), this.#encode(sequence, bytes));
  }

  /** Erases both sectors: the log holds nothing afterwards. */
  format(): void {
    this.#flash.erase(this.#slotOffset(0, 0));
    this.#flash.erase(this.#slotOffset(1, 0));
  }
}
