// The flash port: what a bootloader may do with NOR flash. Erase sets a whole sector to 0xFF; a write
// can only turn 1 bits into 0, at write-granularity alignment. Reads are free and never fail.

export interface FlashGeometry {
  /** Total bytes; a multiple of the sector size. */
  readonly size: number;
  /** Erase unit, e.g. 4096. */
  readonly sectorSize: number;
  /** Write unit: offsets and lengths of writes are multiples of it, e.g. 8. */
  readonly writeSize: number;
}

export interface Flash {
  readonly geometry: FlashGeometry;
  /**
   * Reads `length` bytes: into `into` (from its start) when it is given and large enough, so a loop can
   * reuse one buffer, else into a new one. Use the result, not `into`: a port may return a copy.
   */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  /** Erases the sector that starts at `offset`. */
  erase(offset: number): void;
}

/** A contiguous part of flash, in whole sectors. */
export interface Region {
  readonly offset: number;
  readonly size: number;
}

export const ERASED = 0xff;

const erasedRuns = new Map<number, Uint8Array>();

/** Whether `bytes` are all 0xFF: compared natively against a cached erased run of the same length. */
export function isErased(bytes: Uint8Array): boolean {
  let run = erasedRuns.get(bytes.length);
  if (!run) {
    run = new Uint8Array(bytes.length).fill(ERASED);
    if (erasedRuns.size < 64) erasedRuns.set(bytes.length, run);
  }
  return Buffer.compare(bytes, run) === 0;
}
