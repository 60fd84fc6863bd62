// The device's own slot in a release's per-device tables (docs/FORMAT.md §Envelope tables): its
// recipient id for this publication, from the salt in the signed target entry, found in one of two
// buckets with one Range request each. No slot means the release is not for this device (revoked,
// registered later, or outside the rollout): nothing is installed.

import { SihlError } from '../../core/errors.ts';
import { fromHex } from '../../core/format/bytes.ts';
import { addressedTo, ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { bucketLocation, candidateBuckets, recipientIdFor, slotIn } from '../../core/format/slot-table.ts';
import type { Transport } from './transport.ts';

/** What a device needs of a target entry to find its slots: the publication's salt and table size. */
export interface TableKey {
  readonly salt: string;
  readonly slots: number;
}

/**
 * This device's slot of `slotBytes` in the tables under `folder`, or null when they hold none for it.
 * The slot's recipient field is given back as the device's own recipient (SHA-256 of its key), as
 * FORMAT.md §Envelope has it: the field is a clear hint, the sealed box inside is what counts.
 */
export async function fetchSlot(
  client: Transport,
  folder: string,
  table: TableKey,
  boxPublicKey: Uint8Array,
  slotBytes: number,
): Promise<Uint8Array | null> {
  const recipient = recipientIdFor(fromHex(table.salt), boxPublicKey);
  for (const bucket of new Set(candidateBuckets(recipient, table.slots))) {
    const { path, offset, length } = bucketLocation(folder, bucket, slotBytes);
    const end = offset + length - 1;
    const response = await client.get({ path, range: { start: offset, end }, limit: length });
    // 416 or 404: a table cut short, or none (a store being replaced): nothing for this device there.
    if (response.status === 416 || response.status === 404) continue;
    const whole = response.status === 200 && offset === 0;
    if (response.status !== 206 && !whole)
      throw new SihlError('SERVER_ERROR', `GET ${path}: HTTP ${response.status}`);
    const range = response.headers['content-range'];
    if (response.status === 206 && range !== undefined && !range.startsWith(`bytes ${offset}-${end}/`)) {
      throw new SihlError(
        'SERVER_ERROR',
        `GET ${path}: Content-Range "${range}" is not the bucket asked for`,
      );
    }
    const bytes = response.body.subarray(0, length);
    if (bytes.length !== length) {
      throw new SihlError('NETWORK_ERROR', `GET ${path}: ${bytes.length} bytes, not ${length}`);
    }
    const slot = slotIn(bytes, recipient, slotBytes);
    if (slot !== undefined) return addressedTo(slot, boxPublicKey);
  }
  return null;
}

/** The envelope sealed to this device, or null when the tables hold none for it. */
export function fetchEnvelope(
  client: Transport,
  folder: string,
  table: TableKey,
  boxPublicKey: Uint8Array,
): Promise<Uint8Array | null> {
  return fetchSlot(client, folder, table, boxPublicKey, ENVELOPE_BYTES);
}
