// SHA-256 for public digests (image, manifest, key ids). Hashing is not secret, and Node's
// implementation is about five times faster than libsodium's, so digests use node:crypto.
import { createHash, type Hash } from 'node:crypto';

export const DIGEST_BYTES = 32;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** Incremental SHA-256 for streams. */
export class Sha256 {
  readonly #hash: Hash = createHash('sha256');

  update(data: Uint8Array): this {
    this.#hash.update(data);
    return this;
  }

  digest(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
  }
}

/** Compares two public values (digests, key ids). Not for secrets: it returns early. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
