// The layout publishing writes and devices read for a release's per-device tables (docs/FORMAT.md
// §Envelope tables): the envelope tables, and the credential tables beside them, are part files of
// SLOTS_PER_PART fixed-size slots, device idx at slot idx; an empty slot is zeros. Both sides use this.
import { SihlError } from '../errors.ts';

/** Slots per part file. */
export const SLOTS_PER_PART = 65_536;

/** The part file that holds device `idx`'s slot. */
export const partOf = (idx: number): number => Math.floor(idx / SLOTS_PER_PART);

/** Bytes in part `part` of tables with `slots` slots of `slotBytes`: full parts, the last cut short. */
export function partLength(part: number, slots: number, slotBytes: number): number {
  return Math.min(SLOTS_PER_PART, slots - part * SLOTS_PER_PART) * slotBytes;
}

/** Part files of tables with `slots` slots. */
export const partCount = (slots: number): number => Math.ceil(slots / SLOTS_PER_PART);

export interface SlotLocation {
  /** Path of the part file: `folder` + part number + `.bin`, with forward slashes (also its URL path). */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * Where device `idx` finds its slot of `slotBytes` in the tables under `folder` (a path relative to the
 * store, or ''): fetch it with `Range: bytes=offset-(offset+length-1)`.
 */
export function slotLocation(folder: string, idx: number, slotBytes: number): SlotLocation {
  if (!Number.isSafeInteger(idx) || idx < 0) {
    throw new SihlError('USAGE', `a device index is a whole number from 0, not ${idx}`);
  }
  const dir = folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
  return {
    path: `${dir}${partOf(idx)}.bin`,
    offset: (idx % SLOTS_PER_PART) * slotBytes,
    length: slotBytes,
  };
}

/** Where in its part file slot `idx` begins. */
export const slotOffset = (idx: number, slotBytes: number): number => (idx % SLOTS_PER_PART) * slotBytes;
