// The delegation (docs/FORMAT.md §Delegation): the approver keys and their threshold, versioned and
// signed by the root keys that a device pins. Every image carries one, so a bootloader can verify an
// image with nothing but its root keys, and approvers can change without touching devices.

import { checkSigningPublicKey, keyIdOf, SIGN_PUBLIC_KEY_BYTES } from '../crypto/sign.ts';
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteReader, ByteWriter, utf8 } from './bytes.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  type KeySet,
  type SignatureEntry,
  verifyThreshold,
} from './signatures.ts';

export interface Delegation extends KeySet {
  /** Rises with every change of approvers; a device refuses a version below the highest it accepted. */
  readonly version: number;
}

export interface SignedDelegation {
  readonly delegation: Delegation;
  readonly body: Uint8Array;
  readonly signatures: readonly SignatureEntry[];
}

const CONTEXT = utf8.encode('sihl/v1/delegation\0');

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Keys are stored sorted by key id, which also makes duplicates adjacent and easy to refuse. */
export function encodeDelegationBody(d: Delegation): Uint8Array {
  const body = encodeVersionedKeySet(d);
  decodeDelegationBody(body);
  return body;
}

export function encodeVersionedKeySet(d: Delegation): Uint8Array {
  const keys = [...d.keys].sort((a, b) => compareBytes(keyIdOf(a), keyIdOf(b)));
  const w = new ByteWriter().u32(d.version).u8(d.threshold).u8(keys.length).u16(0);
  for (const key of keys) w.bytes(key);
  return w.finish();
}

export function decodeDelegationBody(body: Uint8Array): Delegation {
  return decodeVersionedKeySet(body, 'DELEGATION_MALFORMED', 'delegation');
}

/**
 * A versioned key set: the delegation's body, and a root statement's (FORMAT.md §Root chain), which
 * share one encoding. `code` and `what` name the part in errors.
 */
export function decodeVersionedKeySet(
  body: Uint8Array,
  code: 'DELEGATION_MALFORMED' | 'ROOT_CHAIN_MALFORMED',
  what: string,
): Delegation {
  const r = new ByteReader(body, code, what);
  const version = r.u32();
  const threshold = r.u8();
  const count = r.u8();
  if (r.u16() !== 0) r.fail('reserved bytes are not zero');
  if (count > LIMITS.delegatedKeys) {
    throw new SihlError('LIMIT_EXCEEDED', `${what}: ${count} keys; the limit is ${LIMITS.delegatedKeys}`);
  }
  if (version === 0) r.fail('version 0 is not allowed');
  if (threshold === 0 || threshold > count) r.fail(`threshold ${threshold} does not fit ${count} keys`);
  const keys: Uint8Array[] = [];
  let previousId: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const key = r.bytes(SIGN_PUBLIC_KEY_BYTES).slice();
    try {
      checkSigningPublicKey(key, `delegated key ${i}`);
    } catch (error) {
      r.fail((error as Error).message);
    }
    const id = keyIdOf(key);
    if (previousId && compareBytes(previousId, id) >= 0)
      r.fail('keys are not in strictly increasing key id order');
    previousId = id;
    keys.push(key);
  }
  r.end();
  return { version, threshold, keys };
}

export function delegationMessage(body: Uint8Array): Uint8Array {
  return Buffer.concat([CONTEXT, body]);
}

export function encodeSignedDelegation(body: Uint8Array, signatures: readonly SignatureEntry[]): Uint8Array {
  return Buffer.concat([body, encodeSignatureBlock(signatures)]);
}

/** Splits body from root signatures; the body's length follows from its key count. */
export function decodeSignedDelegation(bytes: Uint8Array): SignedDelegation {
  if (bytes.length > LIMITS.delegationBytes) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `delegation is ${bytes.length} bytes; the limit is ${LIMITS.delegationBytes}`,
    );
  }
  if (bytes.length < 8)
    throw new SihlError('DELEGATION_MALFORMED', 'delegation: shorter than its fixed fields');
  const count = bytes[5] ?? 0;
  if (count > LIMITS.delegatedKeys) {
    throw new SihlError('LIMIT_EXCEEDED', `delegation: ${count} keys; the limit is ${LIMITS.delegatedKeys}`);
  }
  const bodyLength = 8 + count * SIGN_PUBLIC_KEY_BYTES;
  if (bytes.length < bodyLength)
    throw new SihlError('DELEGATION_MALFORMED', 'delegation: shorter than its key list');
  const body = bytes.subarray(0, bodyLength);
  return {
    delegation: decodeDelegationBody(body),
    body,
    signatures: decodeSignatureBlock(bytes.subarray(bodyLength)),
  };
}

/** Root keys sign the delegation (FORMAT.md §Delegation: threshold of distinct root keys). */
export function verifyDelegation(signed: SignedDelegation, root: KeySet, minVersion: number): Delegation {
  verifyThreshold(delegationMessage(signed.body), signed.signatures, root, 'delegation');
  if (signed.delegation.version < minVersion) {
    throw new SihlError(
      'DELEGATION_ROLLBACK',
      `delegation version ${signed.delegation.version} is older than ${minVersion}, the highest this device accepted`,
    );
  }
  return signed.delegation;
}
