// Fixed keys for the benchmark (the same construction as test/helpers.ts, without node:test): one root,
// three approvers with threshold two, and a device key pair, so every run packs the same way.
import {
  type BoxKeyPair,
  boxKeyPairFromSecret,
  type SigningKeyPair,
  signingKeyPairFromSeed,
} from '../src/core/crypto/index.ts';
import {
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../src/core/format/delegation.ts';
import { type KeySet, signEntry } from '../src/core/format/signatures.ts';

function seedFor(label: string): Uint8Array {
  const seed = new Uint8Array(32);
  seed.set(new TextEncoder().encode(label.padEnd(32, '.')).subarray(0, 32));
  return seed;
}

export interface BenchTrust {
  readonly root: KeySet;
  readonly approvers: readonly SigningKeyPair[];
  readonly delegation: Uint8Array;
  /** The device an encrypted image's key envelope is sealed to. */
  readonly device: BoxKeyPair;
}

export function benchTrust(): BenchTrust {
  const roots = [signingKeyPairFromSeed(seedFor('bench-root'))];
  const approvers = ['bench-alice', 'bench-bob', 'bench-carol'].map((l) =>
    signingKeyPairFromSeed(seedFor(l)),
  );
  const body = encodeDelegationBody({ version: 1, threshold: 2, keys: approvers.map((a) => a.publicKey) });
  const message = delegationMessage(body);
  return {
    root: { keys: roots.map((r) => r.publicKey), threshold: 1 },
    approvers,
    delegation: encodeSignedDelegation(
      body,
      roots.map((r) => signEntry(r.secretKey, r.publicKey, message)),
    ),
    // Any 32 bytes are a valid X25519 secret; a fixed one lets the pack and unpack workers agree.
    device: boxKeyPairFromSecret(seedFor('bench-device')),
  };
}
