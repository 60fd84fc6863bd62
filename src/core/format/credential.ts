// The credential box (docs/CLOUD.md §Device log credentials): one device's table SAS sealed to its X25519
// key, in a fixed-size slot so that a release's credential tables are fetched by index like envelopes.
//   magic "SIHC" | version u16 = 1 | reserved u16 = 0 | SHA-256 of the recipient's X25519 key (32) |
//   crypto_box_seal(SAS query string in ASCII, zero-padded to CREDENTIAL_TEXT_BYTES)
// A sealed box does not say who sealed it, so the device uses a credential only for the table its
// provisioning named and only to add its own signed reports: a forged one can at worst be refused there.
import { type BoxKeyPair, openSealed, SEAL_OVERHEAD_BYTES, seal } from '../crypto/box.ts';
import { DIGEST_BYTES, equalBytes } from '../crypto/hash.ts';
import { SihlError } from '../errors.ts';
import { ByteReader, ByteWriter } from './bytes.ts';
import { recipientIdOf } from './envelope.ts';

export const CREDENTIAL_MAGIC = Uint8Array.of(0x53, 0x49, 0x48, 0x43); // "SIHC"
export const CREDENTIAL_VERSION = 1;
export const CREDENTIAL_BYTES = 512;
const HEADER_BYTES = 8 + DIGEST_BYTES;
/** Room for the SAS: a table SAS for one partition is about 300 characters. */
export const CREDENTIAL_TEXT_BYTES = CREDENTIAL_BYTES - HEADER_BYTES - SEAL_OVERHEAD_BYTES;
// A SAS query string: URL-safe characters only, so it can never smuggle a header or a path.
const SAS_TEXT = /^[A-Za-z0-9%&=._~:+/-]+$/;

function malformed(message: string): SihlError {
  return new SihlError('ENVELOPE_MALFORMED', message, { subject: 'credential box' });
}

export function sealCredential(sas: string, devicePublicKey: Uint8Array): Uint8Array {
  const text = sas.replace(/^\?/, '');
  if (!SAS_TEXT.test(text) || text.length > CREDENTIAL_TEXT_BYTES) {
    throw new SihlError(
      'USAGE',
      `a credential is a SAS query string of at most ${CREDENTIAL_TEXT_BYTES} URL-safe characters`,
    );
  }
  const inner = new Uint8Array(CREDENTIAL_TEXT_BYTES);
  inner.set(new TextEncoder().encode(text));
  const sealed = seal(devicePublicKey, inner);
  inner.fill(0);
  return new ByteWriter()
    .bytes(CREDENTIAL_MAGIC)
    .u16(CREDENTIAL_VERSION)
    .u16(0)
    .bytes(recipientIdOf(devicePublicKey))
    .bytes(sealed)
    .finish();
}

/** The SAS inside, or null for an empty (all-zero) slot; throws for a box that is not this device's. */
export function openCredential(bytes: Uint8Array, device: BoxKeyPair): string | null {
  if (bytes.length !== CREDENTIAL_BYTES) throw malformed(`a credential box is ${CREDENTIAL_BYTES} bytes`);
  if (bytes.every((b) => b === 0)) return null;
  const r = new ByteReader(bytes, 'ENVELOPE_MALFORMED', 'credential box');
  if (!r.bytes(4).every((b, i) => b === CREDENTIAL_MAGIC[i])) r.fail('not a sihl credential box (bad magic)');
  if (r.u16() !== CREDENTIAL_VERSION) r.fail('unsupported credential box version');
  if (r.u16() !== 0) r.fail('reserved field is not zero');
  if (!equalBytes(r.bytes(DIGEST_BYTES), recipientIdOf(device.publicKey))) {
    throw new SihlError('ENVELOPE_WRONG_RECIPIENT', 'the credential box is sealed to another device');
  }
  const sealed = r.bytes(CREDENTIAL_TEXT_BYTES + SEAL_OVERHEAD_BYTES);
  r.end();
  const inner = openSealed(device, sealed);
  if (inner === null) throw new SihlError('ENVELOPE_OPEN_FAILED', 'the credential box does not open');
  const end = inner.indexOf(0);
  const text = new TextDecoder().decode(inner.subarray(0, end < 0 ? inner.length : end));
  // Zero padding only after the text, and nothing but SAS characters in it.
  if (!inner.subarray(text.length).every((b) => b === 0) || !SAS_TEXT.test(text)) {
    throw malformed('the credential is not a SAS query string');
  }
  inner.fill(0);
  return text;
}
