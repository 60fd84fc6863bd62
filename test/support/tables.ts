// Reading a release's per-device tables from a folder on disk as a device does over HTTP (docs/FORMAT.md
// §Envelope tables): its two candidate buckets, then its slot by recipient id.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENVELOPE_BYTES } from '../../src/core/format/envelope.ts';
import { RECIPIENT_BYTES, RECIPIENT_OFFSET } from '../../src/core/format/slot-table.ts';
import { parseTargetCustom } from '../../src/core/format/target.ts';
import { fetchSlot, type TableKey } from '../../src/device/agent/envelope.ts';
import { MemoryTransport } from '../../src/device/agent/memory-transport.ts';
import { readPublished, targetEntries } from '../../src/publisher/published.ts';

/**
 * The slot sealed to `box` in the tables in `folder` (a path on disk), found as a device finds it
 * (src/device/agent/envelope.ts fetchSlot, over the in-memory twin of its transport), or undefined.
 */
export async function slotOnDisk(
  folder: string,
  table: TableKey,
  box: Uint8Array,
  slotBytes: number,
): Promise<Uint8Array | undefined> {
  const store = new MemoryTransport();
  for (const part of (await readdir(folder)).filter((f) => /^\d+\.bin$/.test(f)))
    store.files.set(part, new Uint8Array(await readFile(join(folder, part))));
  return (await fetchSlot(store, '', table, box, slotBytes)) ?? undefined;
}

/** Every slot of the tables in `folder`, in order. */
export async function allSlots(folder: string, slotBytes: number): Promise<Uint8Array[]> {
  const parts = (await readdir(folder))
    .filter((f) => /^\d+\.bin$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const slots: Uint8Array[] = [];
  for (const part of parts) {
    const bytes = new Uint8Array(await readFile(join(folder, part)));
    for (let at = 0; at < bytes.length; at += slotBytes) slots.push(bytes.subarray(at, at + slotBytes));
  }
  return slots;
}

/** The recipient id of a slot, in hex. */
export const recipientOfSlot = (slot: Uint8Array): string =>
  Buffer.from(slot.subarray(RECIPIENT_OFFSET, RECIPIENT_OFFSET + RECIPIENT_BYTES)).toString('hex');

/** The envelope a device holding `box` stages for `target` from the store's current entry, or undefined. */
export async function envelopeInStore(
  store: string,
  target: string,
  box: Uint8Array,
): Promise<Uint8Array | undefined> {
  const entry = targetEntries((await readPublished(store)).targets).find((e) => e.name === target);
  const custom = parseTargetCustom(entry);
  if (!custom?.envelopes || !custom.salt || !custom.slots) return undefined;
  const table = { salt: custom.salt, slots: custom.slots };
  return slotOnDisk(join(store, custom.envelopes), table, box, ENVELOPE_BYTES);
}
