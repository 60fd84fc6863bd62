// Ed25519 signatures (RFC 8032) through libsodium: detached signing and strict verification.
// Signing keys are never converted into encryption keys; devices get a separate X25519 pair (box.ts).
import { SihlError } from '../errors.ts';
import { sha256 } from './hash.ts';
import { sodium } from './sodium.ts';

export const SIGN_PUBLIC_KEY_BYTES = 32;
export const SIGN_SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const KEY_ID_BYTES = 32;

export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  /** libsodium's 64-byte form: seed followed by the public key. */
  readonly secretKey: Uint8Array;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const publicKey = new Uint8Array(SIGN_PUBLIC_KEY_BYTES);
  const secretKey = new Uint8Array(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** Deterministic key pair from a 32-byte seed (key files store the seed; test vectors use fixed seeds). */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== SIGN_SEED_BYTES) throw new SihlError('KEY_INVALID', 'an Ed25519 seed is 32 bytes');
  const publicKey = new Uint8Array(SIGN_PUBLIC_KEY_BYTES);
  const secretKey = new Uint8Array(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return { publicKey, secretKey };
}

export function seedOf(pair: SigningKeyPair): Uint8Array {
  return pair.secretKey.slice(0, SIGN_SEED_BYTES);
}

export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const signature = new Uint8Array(SIGNATURE_BYTES);
  sodium.crypto_sign_detached(signature, message, secretKey);
  return signature;
}

/**
 * Strict verification: libsodium rejects non-canonical encodings, small-order public keys and
 * malleable signatures (S >= L). Wrong lengths are a plain "no".
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== SIGN_PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  return sodium.crypto_sign_verify_detached(signature, message, publicKey);
}

/** Refuses, at load time, a public key that is not a valid, canonical point of prime order. */
export function checkSigningPublicKey(publicKey: Uint8Array, what = 'Ed25519 public key'): Uint8Array {
  if (publicKey.length !== SIGN_PUBLIC_KEY_BYTES) {
    throw new SihlError(
      'KEY_INVALID',
      `${what} must be ${SIGN_PUBLIC_KEY_BYTES} bytes, not ${publicKey.length}`,
    );
  }
  if (!sodium.crypto_core_ed25519_is_valid_point(publicKey)) {
    throw new SihlError('KEY_INVALID', `${what} is not a valid Ed25519 point`);
  }
  return publicKey;
}

/** The key id used in signature blocks: SHA-256 of the raw 32-byte public key (docs/FORMAT.md §Key ids). */
export function keyIdOf(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey);
}
