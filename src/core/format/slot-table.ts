// The layout publishing writes and devices read for a release's per-device tables (docs/FORMAT.md
// §Envelope tables): the envelope tables, and the credential tables beside them. A table is a hash table
// of buckets of BUCKET_SLOTS fixed-size slots, its size a power of two that says the fleet's size only to
// within a factor of two; each slot names its recipient by a digest of the device's X25519 key salted
// per publication, so no id is the same in two releases and an outsider cannot link slots across them.
// A device looks for its id in two candidate buckets; every slot no device holds is filler that looks
// like a sealed one. The tables are cut into part files of SLOTS_PER_PART slots. Both sides use this.
import { equalBytes, sha256 } from '../crypto/hash.ts';
import { SihlError } from '../errors.ts';

/** Slots per part file. */
export const SLOTS_PER_PART = 65_536;
/** Slots per bucket: what a device fetches with one Range request. */
export const BUCKET_SLOTS = 16;
/** The smallest table: small fleets all look alike. */
export const MIN_TABLE_SLOTS = 1_024;
/** The most slots a table may have (2^24), so a hostile `slots` field cannot send a device far. */
export const MAX_TABLE_SLOTS = 16_777_216;
/** Bytes of the per-publication salt. */
export const SALT_BYTES = 16;
/** Where a slot's recipient id sits, in envelopes and credential boxes alike. */
export const RECIPIENT_OFFSET = 8;
export const RECIPIENT_BYTES = 32;
/** Slots filled at most this far before a table doubles: two-choice placement never overflows a bucket then. */
const MAX_LOAD = 0.75;
const RECIPIENT_DOMAIN = new TextEncoder().encode('sihl/v1/recipient\0');

/** The part file that holds slot `slot`. */
export const partOf = (slot: number): number => Math.floor(slot / SLOTS_PER_PART);

/** Bytes in part `part` of tables with `slots` slots of `slotBytes`: full parts, the last cut short. */
export function partLength(part: number, slots: number, slotBytes: number): number {
  return Math.min(SLOTS_PER_PART, slots - part * SLOTS_PER_PART) * slotBytes;
}

/** Part files of tables with `slots` slots. */
export const partCount = (slots: number): number => Math.ceil(slots / SLOTS_PER_PART);

/** Where in its part file slot `slot` begins. */
export const slotOffset = (slot: number, slotBytes: number): number => (slot % SLOTS_PER_PART) * slotBytes;

/** Slots of a table that holds `devices` recipients: a power of two, at least MIN_TABLE_SLOTS. */
export function tableSlots(devices: number): number {
  let slots = MIN_TABLE_SLOTS;
  while (slots * MAX_LOAD < devices) slots *= 2;
  return slots;
}

/** A checked table size from metadata: a power of two from MIN_TABLE_SLOTS to MAX_TABLE_SLOTS. */
export function checkTableSlots(slots: unknown): number {
  if (
    typeof slots !== 'number' ||
    !Number.isSafeInteger(slots) ||
    slots < MIN_TABLE_SLOTS ||
    slots > MAX_TABLE_SLOTS ||
    (slots & (slots - 1)) !== 0
  ) {
    throw new SihlError('TUF_METADATA_INCONSISTENT', `a table of ${String(slots)} slots is not a sihl table`);
  }
  return slots;
}

/** A device's recipient id in one publication: SHA-256("sihl/v1/recipient\0" || salt || X25519 key). */
export function recipientIdFor(salt: Uint8Array, boxPublicKey: Uint8Array): Uint8Array {
  return sha256(Buffer.concat([RECIPIENT_DOMAIN, salt, boxPublicKey]));
}

/** The two buckets that may hold `recipient`: its first and second little-endian u32, modulo the buckets. */
export function candidateBuckets(recipient: Uint8Array, slots: number): [number, number] {
  const buckets = slots / BUCKET_SLOTS;
  const view = new DataView(recipient.buffer, recipient.byteOffset, recipient.byteLength);
  return [view.getUint32(0, true) % buckets, view.getUint32(4, true) % buckets];
}

export interface SlotLocation {
  /** Path of the part file: `folder` + part number + `.bin`, with forward slashes (also its URL path). */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** Where bucket `bucket` lies in the tables under `folder`: fetch it with one Range request. */
export function bucketLocation(folder: string, bucket: number, slotBytes: number): SlotLocation {
  if (!Number.isSafeInteger(bucket) || bucket < 0) {
    throw new SihlError('USAGE', `a bucket is a whole number from 0, not ${bucket}`);
  }
  const dir = folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
  const first = bucket * BUCKET_SLOTS;
  return {
    path: `${dir}${partOf(first)}.bin`,
    offset: slotOffset(first, slotBytes),
    length: BUCKET_SLOTS * slotBytes,
  };
}

/** The slot of `bucketBytes` whose recipient is `recipient`, or undefined. */
export function slotIn(
  bucketBytes: Uint8Array,
  recipient: Uint8Array,
  slotBytes: number,
): Uint8Array | undefined {
  for (let at = 0; at + slotBytes <= bucketBytes.length; at += slotBytes) {
    const id = bucketBytes.subarray(at + RECIPIENT_OFFSET, at + RECIPIENT_OFFSET + RECIPIENT_BYTES);
    if (equalBytes(id, recipient)) return bucketBytes.slice(at, at + slotBytes);
  }
  return undefined;
}

/**
 * Places recipients (`ids`: n ids of 32 bytes, end to end) into a table of `slots` slots: each into the
 * emptier of its two buckets. Returns, per slot, the index of its recipient or -1 for filler; undefined
 * when a bucket would overflow (then the caller doubles the table).
 */
export function placeRecipients(ids: Uint8Array, slots: number): Int32Array | undefined {
  const buckets = slots / BUCKET_SLOTS;
  const load = new Uint8Array(buckets);
  const owner = new Int32Array(slots).fill(-1);
  const count = ids.length / RECIPIENT_BYTES;
  for (let i = 0; i < count; i++) {
    const [a, b] = candidateBuckets(ids.subarray(i * RECIPIENT_BYTES, (i + 1) * RECIPIENT_BYTES), slots);
    const bucket = (load[a] as number) <= (load[b] as number) ? a : b;
    const used = load[bucket] as number;
    if (used === BUCKET_SLOTS) return undefined;
    owner[bucket * BUCKET_SLOTS + used] = i;
    load[bucket] = used + 1;
  }
  return owner;
}
