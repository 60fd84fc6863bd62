// Generates the test vectors in this folder: `npm run vectors`.
// Keys come from fixed seeds, the firmware is the first 3000 bytes of Pybricks 7.28.0 movehub
// (MIT licence), the creation time and release id are fixed, and Ed25519 signatures are deterministic.
// Every signed-only image (and so every vector derived from one, including the root chain vectors) is
// therefore the same on every run; encrypted images and envelopes are not, because libsodium draws the
// stream header and the sealed box's ephemeral key itself. test/docs/vectors.test.ts rebuilds the
// reproducible ones byte for byte and verifies and opens the others.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boxKeyPairFromSecret, signingKeyPairFromSeed } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import {
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../../src/core/format/delegation.ts';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { encodeHeader } from '../../src/core/format/header.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { encodeRootChain, makeRootStatement, type VersionedRoot } from '../../src/core/format/root-chain.ts';
import { encodeSignatureBlock, signEntry } from '../../src/core/format/signatures.ts';
import { bufferSource, imageMessage, packImage, readImage } from '../../src/core/image/index.ts';
import { pybricksCorpus } from '../../test/support/fixtures.ts';
import { gapVectors } from './gap-cases.ts';

export const here = dirname(fileURLToPath(import.meta.url));

const seed = (label: string) => createHash('sha256').update(`sihl test vector ${label}`).digest();

export const fixed = {
  /** Root version 1, the root a device pins when it is provisioned. */
  root: signingKeyPairFromSeed(seed('root')),
  /** The key of root version 2, after the vendor rotated root (the root chain vectors). */
  rotatedRoot: signingKeyPairFromSeed(seed('root version 2')),
  /** The key of root version 3 (the stale-statement vectors). */
  thirdRoot: signingKeyPairFromSeed(seed('root version 3')),
  alice: signingKeyPairFromSeed(seed('alice')),
  bob: signingKeyPairFromSeed(seed('bob')),
  carol: signingKeyPairFromSeed(seed('carol')),
  device: boxKeyPairFromSecret(seed('device')),
  otherDevice: boxKeyPairFromSecret(seed('other device')),
  created: 1_767_225_600, // 2026-01-01T00:00:00Z
  releaseId: createHash('sha256').update('sihl test vector release').digest().subarray(0, 16),
};

/** The approvers alice, bob and carol, 2 of 3, signed by `root` (root version 1 by default). */
export function fixedDelegation(version = 1, root = fixed.root): Uint8Array {
  const body = encodeDelegationBody({
    version,
    threshold: 2,
    keys: [fixed.alice.publicKey, fixed.bob.publicKey, fixed.carol.publicKey],
  });
  return encodeSignedDelegation(body, [signEntry(root.secretKey, root.publicKey, delegationMessage(body))]);
}

/** The root a verifier of these vectors pins: version 1, the fixed root key, threshold 1. */
export const pinnedRoot: VersionedRoot = { version: 1, threshold: 1, keys: [fixed.root.publicKey] };

/** The root the chain's statement names: the rotated key alone, threshold 1, at `version`. */
export function rotatedRoot(version = 2): VersionedRoot {
  return { version, threshold: 1, keys: [fixed.rotatedRoot.publicKey] };
}

/**
 * A root chain of one statement for `rotatedRoot(version)`, signed by the version-1 root key as its
 * "previous" block and by the rotated key as its "own" block. Version 2 follows a pinned version 1;
 * version 3 does not (the chain is well formed on its own, but does not lead from root 1).
 */
export function fixedRootChain(version = 2): Uint8Array {
  const statement = makeRootStatement(rotatedRoot(version), (message) => ({
    previous: [signEntry(fixed.root.secretKey, fixed.root.publicKey, message)],
    own: [signEntry(fixed.rotatedRoot.secretKey, fixed.rotatedRoot.publicKey, message)],
  }));
  return encodeRootChain([statement]);
}

export async function vectorFirmware(): Promise<Uint8Array> {
  return ((await pybricksCorpus()).get('movehub') as Uint8Array).slice(0, 3000);
}

export interface PackVectorOptions {
  /** The delegation to carry; fixedDelegation() by default. */
  readonly delegation?: Uint8Array;
  /** The root chain to carry; none by default. */
  readonly rootChain?: Uint8Array;
  /** Brotli by default (the first vectors); lzma2 for what the C bootloader decodes. */
  readonly compression?: 'brotli' | 'lzma2';
  readonly windowLog?: number;
  readonly chunkSize?: number;
}

/**
 * Packs the firmware with the fixed inputs; `encrypt` decides confidentiality. A number for the
 * second argument is the delegation version (signed by root version 1), as before root chains.
 */
export async function packVector(
  encrypt: boolean,
  options: number | PackVectorOptions = {},
): Promise<{ image: Uint8Array; contentKey: Uint8Array | null }> {
  const {
    delegation = fixedDelegation(),
    rootChain,
    compression = 'brotli',
    windowLog = 16,
    chunkSize = 1024,
  } = typeof options === 'number' ? { delegation: fixedDelegation(options) } : options;
  const dir = await mkdtemp(join(tmpdir(), 'sihl-vectors-'));
  try {
    const input = join(dir, 'firmware.bin');
    await writeFile(input, await vectorFirmware());
    const output = join(dir, 'image.sihl');
    const result = await packImage(input, output, {
      model: 'movehub',
      version: '7.28.0',
      securityVersion: 3,
      delegation,
      ...(rootChain ? { rootChain } : {}),
      signers: [fixed.alice, fixed.bob],
      encrypt,
      quality: 11,
      compression,
      windowLog,
      filter: 'thumb',
      chunkSize,
      now: () => new Date(fixed.created * 1000),
      releaseId: fixed.releaseId,
    });
    return { image: new Uint8Array(await readFile(output)), contentKey: result.contentKey };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The same image with only alice's signature: below the threshold. */
async function underSigned(image: Uint8Array): Promise<Uint8Array> {
  const parsed = await readImage(bufferSource(image));
  const block = encodeSignatureBlock([
    signEntry(fixed.alice.secretKey, fixed.alice.publicKey, imageMessage(parsed.manifestBytes)),
  ]);
  return Buffer.concat([
    encodeHeader({ ...parsed.header, signatureBlockLength: block.length }),
    parsed.manifestBytes,
    parsed.delegationBytes,
    block,
    parsed.rootChainBytes,
    image.subarray(parsed.payloadOffset),
  ]);
}

/**
 * Offset in `image` of the first byte of the "previous" signature of its root chain's first
 * statement: chain header (4), statement body (8 + 32 × keys), block header (4), key id (32).
 */
async function previousSignatureOffset(image: Uint8Array): Promise<number> {
  const parsed = await readImage(bufferSource(image));
  const first = parsed.rootChain[0];
  if (!first) throw new Error('image carries no root chain');
  return parsed.payloadOffset - parsed.rootChainBytes.length + 4 + first.body.length + 4 + 32;
}

export interface VectorCase {
  file: string;
  sha256: string;
  description: string;
  /** 'valid', or the error code a verifier must give. */
  expect: string;
  envelope?: string;
  reproducible: boolean;
  /** The root the verifier pins, when not the document's `root` (version 1). */
  pinnedRoot?: RootJson;
  /** For a valid image with a root chain: the root the chain leads to, which signed the delegation. */
  resultingRoot?: RootJson;
  /** What the verifying device expects, when it checks model and counter (FORMAT.md §Verification step 5). */
  device?: { model: string; securityCounter: number };
  /** The FORMAT.md section whose rule the vector pins down. */
  rule?: string;
}

/** A root as vectors.json gives it: hex Ed25519 public keys. */
export interface RootJson {
  version: number;
  threshold: number;
  keys: string[];
}

export function rootJson(root: VersionedRoot): RootJson {
  return { version: root.version, threshold: root.threshold, keys: root.keys.map(toHex) };
}

/** Every vector file, by name, and its cases (without their SHA-256). */
export async function buildVectors(): Promise<{
  files: Record<string, Uint8Array>;
  cases: Omit<VectorCase, 'sha256'>[];
}> {
  const signedOnly = await packVector(false);
  const encrypted = await packVector(true);
  if (!encrypted.contentKey) throw new Error('encrypted vector has no content key');
  const binding = streamBinding((await readImage(bufferSource(encrypted.image))).manifestBytes);
  const envelope = sealEnvelope(encrypted.contentKey, binding, fixed.device.publicKey);
  // After a root rotation the vendor signs a new delegation (version 2) with the new root key.
  const rotatedDelegation = fixedDelegation(2, fixed.rotatedRoot);
  const rotated = await packVector(false, { delegation: rotatedDelegation, rootChain: fixedRootChain(2) });
  const skipping = await packVector(false, { delegation: rotatedDelegation, rootChain: fixedRootChain(3) });
  const flipAt = await previousSignatureOffset(rotated.image);
  const files: Record<string, Uint8Array> = {
    'signed-only.sihl': signedOnly.image,
    'encrypted.sihl': encrypted.image,
    'encrypted.envelope': envelope,
    'under-signed.sihl': await underSigned(signedOnly.image),
    'truncated.sihl': signedOnly.image.subarray(0, signedOnly.image.length - 1),
    'flipped-payload.sihl': Uint8Array.from(signedOnly.image, (b, i) =>
      i === signedOnly.image.length - 10 ? b ^ 1 : b,
    ),
    'root-chain.sihl': rotated.image,
    'root-chain-flipped-previous.sihl': Uint8Array.from(rotated.image, (b, i) => (i === flipAt ? b ^ 1 : b)),
    'root-chain-gap.sihl': skipping.image,
  };
  const pinned = rootJson(pinnedRoot);
  const cases: Omit<VectorCase, 'sha256'>[] = [
    {
      file: 'signed-only.sihl',
      description: 'compressed (Thumb filter, Brotli) and signed by alice and bob',
      expect: 'valid',
      reproducible: true,
    },
    {
      file: 'encrypted.sihl',
      description:
        'as signed-only, and encrypted in 1024-byte chunks; open it with encrypted.envelope and the device key',
      expect: 'valid',
      envelope: 'encrypted.envelope',
      reproducible: false,
    },
    {
      file: 'under-signed.sihl',
      description: "signed-only.sihl with alice's signature alone",
      expect: 'SIGNATURE_THRESHOLD',
      reproducible: true,
    },
    {
      file: 'truncated.sihl',
      description: 'signed-only.sihl without its last byte',
      expect: 'IMAGE_TRUNCATED',
      reproducible: true,
    },
    {
      file: 'flipped-payload.sihl',
      description: 'signed-only.sihl with one payload bit flipped, in its second stored chunk',
      expect: 'PAYLOAD_DIGEST_MISMATCH',
      reproducible: true,
    },
    {
      file: 'root-chain.sihl',
      description:
        'as signed-only.sihl after a root rotation: delegation version 2 signed by the root version 2 key, and a root ' +
        'chain of one statement (version 2, threshold 1, that key) signed by the version 1 root key (previous) and the ' +
        'version 2 key (own); a verifier pinning root version 1 follows it to version 2',
      expect: 'valid',
      reproducible: true,
      pinnedRoot: pinned,
      resultingRoot: rootJson(rotatedRoot(2)),
    },
    {
      file: 'root-chain-flipped-previous.sihl',
      description: `root-chain.sihl with one bit flipped in the first byte of the statement's "previous" signature (byte ${flipAt} of the file)`,
      expect: 'SIGNATURE_INVALID',
      reproducible: true,
      pinnedRoot: pinned,
    },
    {
      file: 'root-chain-gap.sihl',
      description:
        'root-chain.sihl with the statement made for version 3 instead of 2 (same keys, correctly signed): it does ' +
        'not follow a pinned root version 1',
      expect: 'ROOT_CHAIN_BROKEN',
      reproducible: true,
      pinnedRoot: pinned,
    },
  ];
  const gaps = await gapVectors();
  return { files: { ...files, ...gaps.files }, cases: [...cases, ...gaps.cases] };
}

async function main(): Promise<void> {
  const { files, cases: unhashed } = await buildVectors();
  const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const cases: VectorCase[] = unhashed.map((c) => ({ ...c, sha256: sha(files[c.file] as Uint8Array) }));
  const firmware = await vectorFirmware();
  const document = {
    comment:
      'Made by docs/vectors/generate.ts (npm run vectors). Seeds are SHA-256("sihl test vector <label>"). ' +
      'Verify with the root key below (root version 1), threshold 1, unless a case gives its pinnedRoot; ' +
      'images need 2 of the 3 approvers. The device key opens encrypted.envelope.',
    firmware: {
      source: 'first 3000 bytes of @pybricks/firmware 7.28.0 build/movehub.zip firmware-base.bin',
      size: firmware.length,
      sha256: sha(firmware),
    },
    root: { version: 1, threshold: 1, keys: [toHex(fixed.root.publicKey)] },
    approvers: {
      alice: toHex(fixed.alice.publicKey),
      bob: toHex(fixed.bob.publicKey),
      carol: toHex(fixed.carol.publicKey),
    },
    device: { x25519Secret: toHex(fixed.device.secretKey), x25519Public: toHex(fixed.device.publicKey) },
    created: fixed.created,
    releaseId: toHex(fixed.releaseId),
    cases,
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(here, name), bytes);
  await writeFile(join(here, 'vectors.json'), `${JSON.stringify(document, null, 2)}\n`);
  console.log(`wrote ${Object.keys(files).length} files and vectors.json to ${here}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
