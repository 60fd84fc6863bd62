// The valid inputs the fuzz targets start from, built with fixed keys (test/support/fixtures.ts): small
// sealed images (encrypted and brotli-compressed, signed-only, and uncompressed with a root chain),
// their key envelopes, a root chain, delegations and signed status reports. No node:test here, so the
// budgeted runner (scripts/fuzz.ts) can import it; temporary files are removed as soon as packed.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBoxKeyPair, type SigningKeyPair } from '../../src/core/crypto/index.ts';
import { keyIdOf, sign } from '../../src/core/crypto/sign.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { HEADER_BYTES } from '../../src/core/format/header.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { encodeReport, encodeSignedReport, reportMessage } from '../../src/core/format/report.ts';
import { encodeRootChain, makeRootStatement, type RootStatement } from '../../src/core/format/root-chain.ts';
import { type KeySet, signEntry } from '../../src/core/format/signatures.ts';
import { bufferSource, type PackOptions, packImage, readImage } from '../../src/core/image/index.ts';
import { LIMITS } from '../../src/core/limits.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { firmwareLike, makeDelegation, testKey } from '../support/fixtures.ts';

export const MODEL = 'fuzz-board';

/** Deterministic firmware: 64-byte runs of xorshift noise alternating with a repeated phrase, so it compresses some. */
export function firmware(
  size: number,
  seed: number,
  text = 'fuzz firmware: ldr r0, [pc, #4]; bl verify; ',
): Uint8Array {
  return firmwareLike(size, seed, text, (block) => block % 2 === 1);
}

/** Pinned root version 1: two keys, both must sign. */
export const rootKeys = [testKey('fuzz root 1a'), testKey('fuzz root 1b')];
const root2 = [testKey('fuzz root 2a'), testKey('fuzz root 2b')];
const root3 = [testKey('fuzz root 3')];
export const approvers = [testKey('fuzz alice'), testKey('fuzz bob'), testKey('fuzz carol')];
export const pinnedRoot: KeySet & { version: number } = {
  version: 1,
  threshold: 2,
  keys: rootKeys.map((k) => k.publicKey),
};

function statement(
  version: number,
  keys: readonly SigningKeyPair[],
  threshold: number,
  previous: readonly SigningKeyPair[],
): RootStatement {
  return makeRootStatement({ version, threshold, keys: keys.map((k) => k.publicKey) }, (message) => ({
    previous: previous.map((k) => signEntry(k.secretKey, k.publicKey, message)),
    own: keys.map((k) => signEntry(k.secretKey, k.publicKey, message)),
  }));
}

/** Root 1 → 2 → 3, each step signed by both thresholds. */
export const rootStatements = [statement(2, root2, 2, rootKeys), statement(3, root3, 1, root2)];
export const rootChain = encodeRootChain(rootStatements);

/** Delegations: version 1 by the first root, version 2 (two of three approvers) by root 3. */
export const delegations = [
  makeDelegation(rootKeys, approvers, { version: 1, threshold: 2 }),
  makeDelegation(root3, approvers.slice(0, 2), { version: 2, threshold: 2 }),
];

export interface CorpusImage {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly firmware: Uint8Array;
  readonly contentKey: Uint8Array | null;
  readonly manifestBytes: Uint8Array;
  /** header, manifest, delegation, signatures, root chain, payload. */
  readonly parts: readonly Uint8Array[];
}

export const PART_NAMES = [
  'header',
  'manifest',
  'delegation',
  'signatures',
  'root chain',
  'payload',
] as const;

/** Limits that length and count fields are set to, and one above. */
export const FIELD_LIMITS = [
  HEADER_BYTES,
  LIMITS.manifestBytes,
  LIMITS.delegationBytes,
  LIMITS.signatureBlockBytes,
  LIMITS.rootChainBytes,
  LIMITS.rootStatements,
  LIMITS.delegatedKeys,
  LIMITS.signatures,
  LIMITS.modelBytes,
  LIMITS.chunkBytesMin,
  LIMITS.chunkBytesMax,
  LIMITS.windowLogMin,
  LIMITS.windowLogMax,
];

export async function splitImage(bytes: Uint8Array): Promise<Uint8Array[]> {
  const image = await readImage(bufferSource(bytes));
  const { header } = image;
  const lengths = [
    HEADER_BYTES,
    header.manifestLength,
    header.delegationLength,
    header.signatureBlockLength,
    header.rootChainLength,
    header.payloadLength,
  ];
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const length of lengths) {
    parts.push(bytes.slice(at, at + length));
    at += length;
  }
  return parts;
}

/** Packs `input` into `output` for MODEL, encrypted unless told, signed by two approvers under the first delegation. */
export function packCorpusImage(
  input: string,
  output: string,
  options: Partial<PackOptions> & Pick<PackOptions, 'version' | 'securityVersion' | 'quality'>,
) {
  return packImage(input, output, {
    model: MODEL,
    delegation: delegations[0] as Uint8Array,
    signers: approvers.slice(0, 2),
    encrypt: true,
    ...options,
  });
}

/** A device of MODEL pinning the corpus root, running `old` as 1.0.0, with slots of `slotSize` bytes. */
export function corpusDevice(old: Uint8Array, slotSize: number): Promise<SimulatedDevice> {
  return SimulatedDevice.create({
    model: MODEL,
    root: pinnedRoot,
    firmware: old,
    version: '1.0.0',
    slotSize,
  });
}

/** The firmware the fuzz targets' devices run before an update. */
export const OLD_FIRMWARE = firmware(2500, 99);

let images: Promise<CorpusImage[]> | undefined;

/** Three images of different shapes, packed once per process. */
export function corpusImages(): Promise<CorpusImage[]> {
  images ??= packAll();
  return images;
}

async function packAll(): Promise<CorpusImage[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sihl-fuzz-'));
  try {
    const make = async (name: string, fw: Uint8Array, options: Partial<PackOptions>) => {
      const input = join(dir, `${name}.bin`);
      const output = join(dir, `${name}.sihl`);
      await writeFile(input, fw);
      const result = await packCorpusImage(input, output, {
        version: '1.2.3',
        securityVersion: 3,
        quality: 5,
        chunkSize: LIMITS.chunkBytesMin,
        now: () => new Date(1_700_000_000_000),
        releaseId: new Uint8Array(16).fill(name.length),
        ...options,
      });
      const bytes = new Uint8Array(await readFile(output));
      return {
        name,
        bytes,
        firmware: fw,
        contentKey: result.contentKey,
        manifestBytes: result.manifestBytes,
        parts: await splitImage(bytes),
      };
    };
    return [
      await make('encrypted', firmware(3000, 1), {}),
      await make('signed-only', firmware(2000, 2), { encrypt: false }),
      await make('chained', firmware(1500, 3), {
        compression: 'none',
        delegation: delegations[1] as Uint8Array,
        rootChain,
        version: '1.3.0',
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A device's box key pair and envelopes of the encrypted corpus images sealed to it. */
export const deviceBox = generateBoxKeyPair();

export function envelopeOf(image: CorpusImage, box = deviceBox.publicKey): Uint8Array {
  if (!image.contentKey) throw new Error(`${image.name} is not encrypted`);
  return sealEnvelope(image.contentKey, streamBinding(image.manifestBytes), box);
}

/** A device's signing key, and status reports it signed. */
export const reportKey = testKey('fuzz device');
export const reportDevice = toHex(keyIdOf(reportKey.publicKey));

export function signedReport(body: Uint8Array, key = reportKey): Uint8Array {
  return encodeSignedReport(body, sign(key.secretKey, reportMessage(body)));
}

export const reports = [
  encodeReport({
    device: reportDevice,
    seq: 1,
    time: 1_800_000_000,
    model: MODEL,
    running: '1.2.3',
    outcome: 'booted',
  }),
  encodeReport({
    device: reportDevice,
    seq: 42,
    time: 1_800_000_100,
    model: MODEL,
    running: '1.2.3',
    outcome: 'rejected',
    reason: 'SIGNATURE_THRESHOLD',
    attempts: 2,
    target: `${MODEL}/${MODEL}-1.3.0.sihl`,
  }),
].map((body) => ({ body, bytes: signedReport(body) }));
