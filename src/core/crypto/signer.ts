// The signing port: whatever holds an Ed25519 private key (a key file opened with its passphrase, or a
// PKCS#11 token that never lets the key out) signs through this one shape, so key ids, signature blocks,
// delegations and TUF metadata come out the same whichever holds it.
import { keyIdOf, type SigningKeyPair, sign } from './sign.ts';
import { wipe } from './sodium.ts';

export interface Signer {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** SHA-256 of the public key (docs/FORMAT.md §Key ids). */
  readonly keyId: Uint8Array;
  /** A 64-byte Ed25519 signature (RFC 8032) of `message`. */
  sign(message: Uint8Array): Uint8Array;
  /** Forgets the key: wipes a file key's secret, logs out of and closes a token's session. */
  close(): void;
}

/** Either a key pair opened from a file or a Signer: the image and TUF code accept both. */
export type SigningKey = SigningKeyPair | Signer;

function isSigner(key: SigningKey): key is Signer {
  return typeof (key as Signer).sign === 'function';
}

/** A key pair opened from a key file, as a Signer; close() wipes its secret (sodium_memzero). */
export function fileSigner(pair: SigningKeyPair): Signer {
  return {
    publicKey: pair.publicKey,
    keyId: keyIdOf(pair.publicKey),
    sign: (message) => sign(pair.secretKey, message),
    close: () => wipe(pair.secretKey),
  };
}

export function asSigner(key: SigningKey): Signer {
  return isSigner(key) ? key : fileSigner(key);
}

/** Closes every key, file or token; for `finally` blocks. */
export function closeSigners(keys: readonly SigningKey[]): void {
  for (const key of keys) asSigner(key).close();
}
