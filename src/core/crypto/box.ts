// X25519 sealed boxes (libsodium crypto_box_seal): carry one release's content key to one device.
// A sealed box says nothing about who sealed it, so sihl only opens one after the image signatures
// have been verified, and only ever uses it to carry a content key.
import { SihlError } from '../errors.ts';
import { sodium } from './sodium.ts';

export const BOX_PUBLIC_KEY_BYTES = 32;
export const BOX_SECRET_KEY_BYTES = 32;
export const SEAL_OVERHEAD_BYTES = 48;

export interface BoxKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export function generateBoxKeyPair(): BoxKeyPair {
  const publicKey = new Uint8Array(BOX_PUBLIC_KEY_BYTES);
  const secretKey = new Uint8Array(BOX_SECRET_KEY_BYTES);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** Rebuilds the pair from its secret half (key files store only the secret). */
export function boxKeyPairFromSecret(secretKey: Uint8Array): BoxKeyPair {
  if (secretKey.length !== BOX_SECRET_KEY_BYTES)
    throw new SihlError('KEY_INVALID', 'an X25519 secret key is 32 bytes');
  const publicKey = new Uint8Array(BOX_PUBLIC_KEY_BYTES);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function checkBoxPublicKey(publicKey: Uint8Array, what = 'X25519 public key'): Uint8Array {
  if (publicKey.length !== BOX_PUBLIC_KEY_BYTES) {
    throw new SihlError(
      'KEY_INVALID',
      `${what} must be ${BOX_PUBLIC_KEY_BYTES} bytes, not ${publicKey.length}`,
    );
  }
  return publicKey;
}

export function seal(recipientPublicKey: Uint8Array, message: Uint8Array): Uint8Array {
  checkBoxPublicKey(recipientPublicKey);
  const sealed = new Uint8Array(message.length + SEAL_OVERHEAD_BYTES);
  sodium.crypto_box_seal(sealed, message, recipientPublicKey);
  return sealed;
}

/** Returns null when the box was not sealed to this key pair or was altered. */
export function openSealed(pair: BoxKeyPair, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < SEAL_OVERHEAD_BYTES) return null;
  const message = new Uint8Array(sealed.length - SEAL_OVERHEAD_BYTES);
  return sodium.crypto_box_seal_open(message, sealed, pair.publicKey, pair.secretKey) ? message : null;
}

/**
 * Raw X25519 (RFC 7748). Returns null where libsodium refuses: an all-zero shared secret, which a
 * low-order public key produces. Used by the Wycheproof tests of the primitive under the sealed box.
 */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  if (secretKey.length !== BOX_SECRET_KEY_BYTES || publicKey.length !== BOX_PUBLIC_KEY_BYTES) return null;
  const shared = new Uint8Array(sodium.crypto_scalarmult_BYTES);
  try {
    sodium.crypto_scalarmult(shared, secretKey, publicKey);
  } catch {
    return null;
  }
  return shared;
}
