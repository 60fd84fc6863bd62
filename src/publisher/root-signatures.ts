// What root keys sign for a key change (docs/WORKSPACE.md §Keys): the delegation body, the root-chain
// statement and the TUF root, each by a threshold of the current root keys, of the root keys after the
// change, or of both (TUF's rule for a new root). A one-command change signs them with the keys at hand;
// a ceremony (ceremony.ts) carries the same bytes to each key holder in turn. Both end here, where the
// signatures are checked and put together.
import { Metadata, type Root, Signature } from '@tufjs/models';
import { asSigner, equalBytes, keyIdOf, type SigningKey, verify } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import {
  decodeSignedDelegation,
  decodeVersionedKeySet,
  delegationMessage,
  encodeSignedDelegation,
} from '../core/format/delegation.ts';
import { type RootStatement, rootMessage } from '../core/format/root-chain.ts';
import type { SignatureEntry } from '../core/format/signatures.ts';
import type { RootKey, RootSet } from './root-keys.ts';
import { tufKeyIdOf } from './tuf/keys.ts';
import { checkRootSuccession, checkThreshold, signedBytes } from './tuf/signing.ts';

export type MessageKind = 'delegation' | 'root-statement' | 'tuf-root';
/** The root keys before the change (`current`) or after it (`next`). */
export type SetName = 'current' | 'next';

export const MESSAGE_WORDS: Readonly<Record<MessageKind, string>> = {
  delegation: 'the delegation (the approvers images carry)',
  'root-statement': 'the root-chain statement (the new root keys devices walk to)',
  'tuf-root': 'the TUF root metadata',
};

/** Everything root signs for one change, unsigned. */
export interface RootWork {
  readonly current: RootSet;
  readonly next: RootSet;
  /** The delegation body (docs/FORMAT.md §Delegation). */
  readonly delegation?: Uint8Array;
  /** The root statement body (docs/FORMAT.md §Root chain). */
  readonly statement?: Uint8Array;
  /** The next TUF root, unsigned; `previousTufRoot` is the published one it follows, if any. */
  readonly tufRoot?: Metadata<Root>;
  readonly previousTufRoot?: Metadata<Root>;
}

export interface RootMessage {
  readonly kind: MessageKind;
  /** Exactly the bytes each root key signs. */
  readonly bytes: Uint8Array;
  /** Each of these sets must reach its threshold. */
  readonly sets: readonly SetName[];
}

export interface RootSignature {
  readonly publicKey: Uint8Array;
  readonly kind: MessageKind;
  readonly signature: Uint8Array;
}

/** The same keys in the same order, and the same threshold. */
export const sameSet = (a: RootSet, b: RootSet) =>
  a.threshold === b.threshold &&
  a.keys.length === b.keys.length &&
  a.keys.every((k, i) => equalBytes(k.publicKey, (b.keys[i] as RootKey).publicKey));

/** What each root key holder signs; unless root itself changes, one threshold of its keys is asked for. */
export function messagesOf(work: RootWork): RootMessage[] {
  const rootChanges = !sameSet(work.current, work.next);
  const out: RootMessage[] = [];
  if (work.delegation) {
    const sets: SetName[] = rootChanges ? ['next'] : ['current'];
    out.push({ kind: 'delegation', bytes: delegationMessage(work.delegation), sets });
  }
  if (work.statement)
    out.push({ kind: 'root-statement', bytes: rootMessage(work.statement), sets: ['current', 'next'] });
  if (work.tufRoot) {
    const sets: SetName[] =
      work.previousTufRoot && rootChanges ? ['current', 'next'] : rootChanges ? ['next'] : ['current'];
    out.push({ kind: 'tuf-root', bytes: signedBytes(work.tufRoot), sets });
  }
  return out;
}

const inSet = (set: RootSet, publicKey: Uint8Array) =>
  set.keys.some((k) => equalBytes(k.publicKey, publicKey));

/** The root keys before and after a change. */
export type RootSets = Pick<RootWork, 'current' | 'next'>;

/** Whether the key may sign `message`: it is in one of the sets the message needs. */
export function maySign(sets: RootSets, message: RootMessage, publicKey: Uint8Array): boolean {
  return message.sets.some((set) => inSet(sets[set], publicKey));
}

/** Every signature `keys` can give: each key signs each message it may sign. */
export function signMessages(
  sets: RootSets,
  messages: readonly RootMessage[],
  keys: readonly SigningKey[],
): RootSignature[] {
  const out: RootSignature[] = [];
  for (const key of keys) {
    const signer = asSigner(key);
    for (const message of messages) {
      if (!maySign(sets, message, signer.publicKey)) continue;
      out.push({ publicKey: signer.publicKey, kind: message.kind, signature: signer.sign(message.bytes) });
    }
  }
  return out;
}

export function signWork(work: RootWork, keys: readonly SigningKey[]): RootSignature[] {
  return signMessages(work, messagesOf(work), keys);
}

/** The keys of `set` with a valid signature on `message` (each key once). */
export function signersOf(
  set: RootSet,
  message: RootMessage,
  signatures: readonly RootSignature[],
): RootKey[] {
  return set.keys.filter((key) =>
    signatures.some(
      (s) =>
        s.kind === message.kind &&
        equalBytes(s.publicKey, key.publicKey) &&
        verify(key.publicKey, message.bytes, s.signature),
    ),
  );
}

/** What is still missing, in words (empty when every threshold is met). */
export function missingSignatures(
  sets: RootSets,
  messages: readonly RootMessage[],
  signatures: readonly RootSignature[],
): string[] {
  const out: string[] = [];
  for (const message of messages) {
    for (const name of message.sets) {
      const set = sets[name];
      const count = signersOf(set, message, signatures).length;
      if (count < set.threshold) {
        const which =
          message.sets.length === 1 && name === 'current' ? '' : name === 'current' ? 'current ' : 'new ';
        out.push(
          `${MESSAGE_WORDS[message.kind]}: signed by ${count} of the ${set.threshold} ${which}root keys it needs`,
        );
      }
    }
  }
  return out;
}

function entries(set: RootSet, message: RootMessage, signatures: readonly RootSignature[]): SignatureEntry[] {
  return signersOf(set, message, signatures).map((key) => ({
    keyId: keyIdOf(key.publicKey),
    signature: (
      signatures.find(
        (s) => s.kind === message.kind && equalBytes(s.publicKey, key.publicKey),
      ) as RootSignature
    ).signature,
  }));
}

export interface RootSigned {
  readonly delegation?: Uint8Array;
  readonly statement?: RootStatement;
  readonly tufRoot?: Metadata<Root>;
}

/** The signed delegation, statement and TUF root; refuses unless every threshold is met. */
export function assemble(work: RootWork, signatures: readonly RootSignature[]): RootSigned {
  const missing = missingSignatures(work, messagesOf(work), signatures);
  if (missing.length > 0) {
    throw new SihlError('SIGNATURE_THRESHOLD', `not signed by enough root keys: ${missing.join('; ')}`);
  }
  const out: { delegation?: Uint8Array; statement?: RootStatement; tufRoot?: Metadata<Root> } = {};
  for (const message of messagesOf(work)) {
    if (message.kind === 'delegation') {
      out.delegation = encodeSignedDelegation(
        work.delegation as Uint8Array,
        entries(work.next, message, signatures),
      );
      decodeSignedDelegation(out.delegation);
    } else if (message.kind === 'root-statement') {
      const body = work.statement as Uint8Array;
      out.statement = {
        root: decodeVersionedKeySet(body, 'ROOT_CHAIN_MALFORMED', 'root statement'),
        body,
        previous: entries(work.current, message, signatures),
        own: entries(work.next, message, signatures),
      };
    } else {
      out.tufRoot = signedTufRoot(work, message, signatures);
    }
  }
  return out;
}

function signedTufRoot(
  work: RootWork,
  message: RootMessage,
  signatures: readonly RootSignature[],
): Metadata<Root> {
  const unsigned = work.tufRoot as Metadata<Root>;
  const tufSignatures: Record<string, Signature> = {};
  for (const name of message.sets) {
    for (const key of signersOf(work[name], message, signatures)) {
      const keyID = tufKeyIdOf(key.publicKey);
      const s = signatures.find((x) => x.kind === message.kind && equalBytes(x.publicKey, key.publicKey));
      tufSignatures[keyID] = new Signature({ keyID, sig: toHex((s as RootSignature).signature) });
    }
  }
  const root = new Metadata(unsigned.signed, tufSignatures, { ...unsigned.unrecognizedFields });
  if (work.previousTufRoot) checkRootSuccession(work.previousTufRoot, root);
  else checkThreshold(root.signed, 'root', root, 'root version 1');
  return root;
}
