// The root chain (docs/FORMAT.md §Root chain): how a device that pinned one set of root keys comes to
// trust the next. Each statement names a root version's keys and threshold and is signed by a threshold
// of the previous root's keys and a threshold of its own (TUF's rule for a new root), so a device walks
// from the root it pinned to the newest one, one version at a time, and pins that after an install.
// Images carry the chain since the first root; a device skips the statements it already has.
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteReader, ByteWriter, utf8 } from './bytes.ts';
import { type Delegation, decodeVersionedKeySet, encodeVersionedKeySet } from './delegation.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  type KeySet,
  type SignatureEntry,
  signatureBlockSize,
  verifyThreshold,
} from './signatures.ts';

/** A root: its version (1 for the first) and its keys and threshold. */
export type VersionedRoot = Delegation;

export interface RootStatement {
  readonly root: VersionedRoot;
  readonly body: Uint8Array;
  /** By the keys of root version − 1. */
  readonly previous: readonly SignatureEntry[];
  /** By this root's own keys. */
  readonly own: readonly SignatureEntry[];
}

const CONTEXT = utf8.encode('sihl/v1/root\0');
const KEY_BYTES = 32;

export function rootMessage(body: Uint8Array): Uint8Array {
  return Buffer.concat([CONTEXT, body]);
}

export function encodeRootBody(root: VersionedRoot): Uint8Array {
  const body = encodeVersionedKeySet(root);
  decodeVersionedKeySet(body, 'ROOT_CHAIN_MALFORMED', 'root statement');
  return body;
}

/** An empty chain is zero bytes (an image made before any rotation carries none). */
export function encodeRootChain(statements: readonly RootStatement[]): Uint8Array {
  if (statements.length === 0) return new Uint8Array(0);
  const w = new ByteWriter().u8(statements.length).u8(0).u16(0);
  for (const s of statements) {
    w.bytes(s.body).bytes(encodeSignatureBlock(s.previous)).bytes(encodeSignatureBlock(s.own));
  }
  const bytes = w.finish();
  decodeRootChain(bytes);
  return bytes;
}

/** Strict: consecutive versions, every part exactly as long as its counts say, nothing after the last. */
export function decodeRootChain(bytes: Uint8Array): RootStatement[] {
  if (bytes.length === 0) return [];
  if (bytes.length > LIMITS.rootChainBytes) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `root chain is ${bytes.length} bytes; the limit is ${LIMITS.rootChainBytes}`,
    );
  }
  const r = new ByteReader(bytes, 'ROOT_CHAIN_MALFORMED', 'root chain');
  // In field order, so the first bad field decides the error (FORMAT.md §Conventions).
  const count = r.u8();
  if (count > LIMITS.rootStatements) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `root chain: ${count} statements; the limit is ${LIMITS.rootStatements}`,
    );
  }
  if (count === 0) r.fail('a chain that is present has at least one statement');
  if (r.u8() !== 0 || r.u16() !== 0) r.fail('reserved bytes are not zero');
  const statements: RootStatement[] = [];
  for (let i = 0; i < count; i++) {
    const keyCount = r.peekU8(5);
    if (keyCount > LIMITS.delegatedKeys) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `root statement: ${keyCount} keys; the limit is ${LIMITS.delegatedKeys}`,
      );
    }
    const body = r.bytes(8 + KEY_BYTES * keyCount).slice();
    const root = decodeVersionedKeySet(body, 'ROOT_CHAIN_MALFORMED', 'root statement');
    const last = statements.at(-1);
    if (root.version < 2) r.fail(`root version ${root.version} cannot follow another (the first root is 1)`);
    if (last && root.version !== last.root.version + 1) {
      r.fail(`root version ${root.version} follows version ${last.root.version}; versions rise by one`);
    }
    const block = () => {
      const signatures = r.peekU8(0);
      if (signatures > LIMITS.signatures) {
        throw new SihlError(
          'LIMIT_EXCEEDED',
          `root statement: ${signatures} signatures; the limit is ${LIMITS.signatures}`,
        );
      }
      return decodeSignatureBlock(r.bytes(signatureBlockSize(signatures)));
    };
    const previous = block();
    const own = block();
    statements.push({ root, body, previous, own });
  }
  r.end();
  return statements;
}

/** The statement for root `version`, signed by `previousSigners` (of version − 1) and `ownSigners`. */
export function makeRootStatement(
  root: VersionedRoot,
  sign: (message: Uint8Array) => { previous: SignatureEntry[]; own: SignatureEntry[] },
): RootStatement {
  const body = encodeRootBody(root);
  return { root, body, ...sign(rootMessage(body)) };
}

/**
 * Walks from the pinned root through the chain to the newest root it reaches. Statements at or below
 * the pinned version are skipped: the device trusts what it pinned. The first one above must be the
 * pinned version + 1, or the chain does not lead from this device's root [ROOT_CHAIN_BROKEN].
 */
export function verifyRootChain(chain: readonly RootStatement[], pinned: VersionedRoot): VersionedRoot {
  let current: VersionedRoot = pinned;
  for (const statement of chain) {
    const { root } = statement;
    if (root.version <= current.version) continue;
    if (root.version !== current.version + 1) {
      throw new SihlError(
        'ROOT_CHAIN_BROKEN',
        `the image's root chain starts at version ${root.version}; this device pinned version ${current.version}`,
      );
    }
    const message = rootMessage(statement.body);
    verifyThreshold(
      message,
      statement.previous,
      current as KeySet,
      `root version ${root.version} (old keys)`,
    );
    verifyThreshold(message, statement.own, root, `root version ${root.version} (its own keys)`);
    current = root;
  }
  return current;
}
