// The device's key envelope for a release: one Range request for its own 184-byte slot in the release's
// envelope tables (docs/FORMAT.md §Envelope). An all-zero slot, or none, means the release is not for
// this device (revoked, registered later, or outside the rollout): nothing is installed.
import { equalBytes } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { decodeEnvelope, ENVELOPE_BYTES, recipientIdOf } from '../../core/format/envelope.ts';
import { slotLocation } from '../../core/format/slot-table.ts';
import type { Transport } from './transport.ts';

/** Where device `index` finds its envelope in the tables under `folder` (src/core/format/slot-table.ts). */
export function envelopeSlot(folder: string, index: number): { path: string; offset: number } {
  return slotLocation(folder, index, ENVELOPE_BYTES);
}

/** The envelope sealed to this device, or null when the tables hold none for it. */
export async function fetchEnvelope(
  client: Transport,
  folder: string,
  index: number,
  boxPublicKey: Uint8Array,
): Promise<Uint8Array | null> {
  const { path, offset } = envelopeSlot(folder, index);
  const end = offset + ENVELOPE_BYTES - 1;
  const response = await client.get({ path, range: { start: offset, end }, limit: ENVELOPE_BYTES });
  // 416: the part file ends before the slot (the device was registered after publishing); 404: no such part.
  if (response.status === 416 || response.status === 404) return null;
  const whole = response.status === 200 && offset === 0;
  if (response.status !== 206 && !whole)
    throw new SihlError('SERVER_ERROR', `GET ${path}: HTTP ${response.status}`);
  const range = response.headers['content-range'];
  if (response.status === 206 && range !== undefined && !range.startsWith(`bytes ${offset}-${end}/`)) {
    throw new SihlError('SERVER_ERROR', `GET ${path}: Content-Range "${range}" is not the slot asked for`);
  }
  const bytes = response.body;
  if (bytes.length !== ENVELOPE_BYTES) {
    throw new SihlError('NETWORK_ERROR', `GET ${path}: ${bytes.length} bytes, not ${ENVELOPE_BYTES}`);
  }
  if (bytes.every((b) => b === 0)) return null;
  // FORMAT.md §Envelope: the recipient is checked here so a wrong table costs no image download.
  if (!equalBytes(decodeEnvelope(bytes).recipient, recipientIdOf(boxPublicKey))) {
    throw new SihlError(
      'ENVELOPE_WRONG_RECIPIENT',
      `the envelope in slot ${index} is sealed to another device`,
    );
  }
  return bytes;
}
