// The key envelope (docs/FORMAT.md §Envelope): one release's content key sealed to one device's X25519
// key, together with the stream binding of the image it belongs to, so an envelope of another image
// (an older release, say) is refused even by the device it was made for.

import { type BoxKeyPair, openSealed, SEAL_OVERHEAD_BYTES, seal } from '../crypto/box.ts';
import { DIGEST_BYTES, equalBytes, sha256 } from '../crypto/hash.ts';
import { wipe } from '../crypto/sodium.ts';
import { STREAM_KEY_BYTES } from '../crypto/stream.ts';
import { SihlError } from '../errors.ts';
import { ByteReader, ByteWriter } from './bytes.ts';

export const ENVELOPE_MAGIC = Uint8Array.of(0x53, 0x49, 0x48, 0x4b); // "SIHK"
export const ENVELOPE_VERSION = 1;
const SEALED_BYTES = STREAM_KEY_BYTES + DIGEST_BYTES + SEAL_OVERHEAD_BYTES;
export const ENVELOPE_BYTES = 8 + DIGEST_BYTES + DIGEST_BYTES + SEALED_BYTES;

export interface Envelope {
  /** SHA-256 of the recipient device's X25519 public key. */
  readonly recipient: Uint8Array;
  /** Stream binding of the image (manifest.ts streamBinding). */
  readonly binding: Uint8Array;
  readonly sealed: Uint8Array;
}

export function recipientIdOf(boxPublicKey: Uint8Array): Uint8Array {
  return sha256(boxPublicKey);
}

/**
 * A table slot (an envelope or a credential box) as the device keeps it: its recipient field, a
 * per-publication id in the tables (docs/FORMAT.md §Envelope tables), set back to the device's own
 * recipient. The field is a clear hint that no one authenticates; the sealed box inside is what counts.
 */
export function addressedTo(slot: Uint8Array, boxPublicKey: Uint8Array): Uint8Array {
  const out = slot.slice();
  out.set(recipientIdOf(boxPublicKey), 8);
  return out;
}

export function sealEnvelope(
  contentKey: Uint8Array,
  binding: Uint8Array,
  devicePublicKey: Uint8Array,
): Uint8Array {
  const inner = Buffer.concat([contentKey, binding]);
  const sealed = seal(devicePublicKey, inner);
  wipe(inner);
  return new ByteWriter()
    .bytes(ENVELOPE_MAGIC)
    .u16(ENVELOPE_VERSION)
    .u16(0)
    .bytes(recipientIdOf(devicePublicKey))
    .bytes(binding)
    .bytes(sealed)
    .finish();
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length !== ENVELOPE_BYTES) {
    throw new SihlError(
      'ENVELOPE_MALFORMED',
      `a key envelope is ${ENVELOPE_BYTES} bytes, this one ${bytes.length}`,
    );
  }
  const r = new ByteReader(bytes, 'ENVELOPE_MALFORMED', 'envelope');
  if (!r.bytes(4).every((b, i) => b === ENVELOPE_MAGIC[i])) r.fail('not a sihl key envelope (bad magic)');
  if (r.u16() !== ENVELOPE_VERSION) r.fail('unsupported envelope version');
  if (r.u16() !== 0) r.fail('reserved field is not zero');
  const recipient = r.bytes(DIGEST_BYTES).slice();
  const binding = r.bytes(DIGEST_BYTES).slice();
  const sealed = r.bytes(SEALED_BYTES).slice();
  r.end();
  return { recipient, binding, sealed };
}

/**
 * Opens an envelope for an image whose signatures were already verified, and returns its content key.
 * The binding is checked in clear first (a clear error) and again inside the sealed box (the real check).
 */
export function openEnvelope(bytes: Uint8Array, device: BoxKeyPair, binding: Uint8Array): Uint8Array {
  const envelope = decodeEnvelope(bytes);
  if (!equalBytes(envelope.recipient, recipientIdOf(device.publicKey))) {
    throw new SihlError('ENVELOPE_WRONG_RECIPIENT', 'key envelope is sealed to another device');
  }
  if (!equalBytes(envelope.binding, binding)) {
    throw new SihlError('ENVELOPE_WRONG_IMAGE', 'key envelope belongs to another image');
  }
  const inner = openSealed(device, envelope.sealed);
  if (inner === null)
    throw new SihlError('ENVELOPE_OPEN_FAILED', 'key envelope does not open with this device key');
  const r = new ByteReader(inner, 'ENVELOPE_MALFORMED', 'envelope contents');
  const contentKey = r.bytes(STREAM_KEY_BYTES).slice();
  const innerBinding = r.bytes(DIGEST_BYTES);
  if (!equalBytes(innerBinding, binding)) {
    wipe(contentKey, inner);
    throw new SihlError('ENVELOPE_WRONG_IMAGE', 'key envelope belongs to another image');
  }
  wipe(inner);
  return contentKey;
}
