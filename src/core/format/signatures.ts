// Signature blocks (docs/FORMAT.md §Signature block) and the threshold rule: every entry must name a
// trusted key, no key may appear twice, every signature must verify, and the count must reach the
// threshold. A block with any bad entry is refused, even if enough good ones remain.

import { equalBytes } from '../crypto/hash.ts';
import { KEY_ID_BYTES, keyIdOf, SIGNATURE_BYTES, sign, verify } from '../crypto/sign.ts';
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteReader, ByteWriter, toHex } from './bytes.ts';

export const SIGNATURE_ENTRY_BYTES = KEY_ID_BYTES + SIGNATURE_BYTES;

export interface SignatureEntry {
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

/** A set of public keys and how many of them must sign. */
export interface KeySet {
  readonly keys: readonly Uint8Array[];
  readonly threshold: number;
}

/** Entries are stored in increasing key id order, so a set of signatures has one encoding. */
export function sortedByKeyId(entries: readonly SignatureEntry[]): SignatureEntry[] {
  return [...entries].sort((a, b) => Buffer.compare(a.keyId, b.keyId));
}

export function signatureBlockSize(count: number): number {
  return 4 + count * SIGNATURE_ENTRY_BYTES;
}

export function encodeSignatureBlock(entries: readonly SignatureEntry[]): Uint8Array {
  if (entries.length > LIMITS.signatures)
    throw new SihlError('LIMIT_EXCEEDED', `more than ${LIMITS.signatures} signatures`);
  const w = new ByteWriter().u8(entries.length).u8(0).u16(0);
  for (const e of sortedByKeyId(entries)) w.bytes(e.keyId).bytes(e.signature);
  return w.finish();
}

export function decodeSignatureBlock(bytes: Uint8Array): SignatureEntry[] {
  const r = new ByteReader(bytes, 'SIGNATURE_BLOCK_MALFORMED', 'signature block');
  const count = r.u8();
  if (count > LIMITS.signatures) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `signature block: ${count} signatures; the limit is ${LIMITS.signatures}`,
    );
  }
  if (r.u8() !== 0 || r.u16() !== 0) r.fail('reserved bytes are not zero');
  if (bytes.length !== signatureBlockSize(count))
    r.fail(`length ${bytes.length} does not fit ${count} signatures`);
  const entries: SignatureEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({ keyId: r.bytes(KEY_ID_BYTES).slice(), signature: r.bytes(SIGNATURE_BYTES).slice() });
  }
  r.end();
  return entries;
}

export function signEntry(secretKey: Uint8Array, publicKey: Uint8Array, message: Uint8Array): SignatureEntry {
  return { keyId: keyIdOf(publicKey), signature: sign(secretKey, message) };
}

/**
 * Checks a block against a key set. `what` names the block in errors ("image", "delegation").
 * Returns the key ids that signed.
 */
export function verifyThreshold(
  message: Uint8Array,
  entries: readonly SignatureEntry[],
  trusted: KeySet,
  what: string,
): Uint8Array[] {
  const byId = trusted.keys.map((key) => ({ id: keyIdOf(key), key }));
  const seen: Uint8Array[] = [];
  for (const entry of entries) {
    const known = byId.find((k) => equalBytes(k.id, entry.keyId));
    if (!known) {
      throw new SihlError(
        'SIGNATURE_UNKNOWN_KEY',
        `${what} is signed by key ${toHex(entry.keyId).slice(0, 16)}…, which is not trusted`,
      );
    }
    if (seen.some((id) => equalBytes(id, entry.keyId))) {
      throw new SihlError(
        'SIGNATURE_DUPLICATE_KEY',
        `${what} carries two signatures by key ${toHex(entry.keyId).slice(0, 16)}…`,
      );
    }
    const previous = seen[seen.length - 1];
    if (previous && Buffer.compare(previous, entry.keyId) > 0) {
      throw new SihlError(
        'SIGNATURE_BLOCK_MALFORMED',
        `${what} signatures are not in increasing key id order`,
      );
    }
    if (!verify(known.key, message, entry.signature)) {
      throw new SihlError(
        'SIGNATURE_INVALID',
        `${what} signature by key ${toHex(entry.keyId).slice(0, 16)}… does not verify`,
      );
    }
    seen.push(entry.keyId);
  }
  if (seen.length < trusted.threshold) {
    throw new SihlError(
      'SIGNATURE_THRESHOLD',
      `${what} has ${seen.length} valid signature(s) by distinct trusted keys; ${trusted.threshold} required`,
    );
  }
  return seen;
}
