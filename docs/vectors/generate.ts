// Generates the test vectors in this folder: `npm run vectors`.
// Keys come from fixed seeds, the firmware is the first 3000 bytes of Pybricks 7.28.0 movehub
// (MIT licence), the creation time and release id are fixed. The signed-only image is therefore the
// same on every run; encrypted images and envelopes are not, because libsodium draws the stream
// header and the sealed box's ephemeral key itself. test/docs/vectors.test.ts rebuilds the first and
// verifies and opens the others.
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
import { encodeSignatureBlock, signEntry } from '../../src/core/format/signatures.ts';
import { bufferSource, imageMessage, packImage, readImage } from '../../src/core/image/index.ts';
import { pybricksCorpus } from '../../test/support/fixtures.ts';

export const here = dirname(fileURLToPath(import.meta.url));

const seed = (label: string) => createHash('sha256').update(`sihl test vector ${label}`).digest();

export const fixed = {
  root: signingKeyPairFromSeed(seed('root')),
  alice: signingKeyPairFromSeed(seed('alice')),
  bob: signingKeyPairFromSeed(seed('bob')),
  carol: signingKeyPairFromSeed(seed('carol')),
  device: boxKeyPairFromSecret(seed('device')),
  otherDevice: boxKeyPairFromSecret(seed('other device')),
  created: 1_767_225_600, // 2026-01-01T00:00:00Z
  releaseId: createHash('sha256').update('sihl test vector release').digest().subarray(0, 16),
};

export function fixedDelegation(version = 1): Uint8Array {
  const body = encodeDelegationBody({
    version,
    threshold: 2,
    keys: [fixed.alice.publicKey, fixed.bob.publicKey, fixed.carol.publicKey],
  });
  return encodeSignedDelegation(body, [
    signEntry(fixed.root.secretKey, fixed.root.publicKey, delegationMessage(body)),
  ]);
}

export async function vectorFirmware(): Promise<Uint8Array> {
  return ((await pybricksCorpus()).get('movehub') as Uint8Array).slice(0, 3000);
}

/** Packs the firmware with the fixed inputs; `encrypt` decides confidentiality. */
export async function packVector(
  encrypt: boolean,
  version = 1,
): Promise<{ image: Uint8Array; contentKey: Uint8Array | null }> {
  const dir = await mkdtemp(join(tmpdir(), 'sihl-vectors-'));
  try {
    const input = join(dir, 'firmware.bin');
    await writeFile(input, await vectorFirmware());
    const output = join(dir, 'image.sihl');
    const result = await packImage(input, output, {
      model: 'movehub',
      version: '7.28.0',
      securityVersion: 3,
      delegation: fixedDelegation(version),
      signers: [fixed.alice, fixed.bob],
      encrypt,
      quality: 11,
      filter: 'thumb',
      chunkSize: 1024,
      now: () => fixed.created,
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
    image.subarray(parsed.payloadOffset),
  ]);
}

export interface VectorCase {
  file: string;
  sha256: string;
  description: string;
  /** 'valid', or the error code a verifier must give. */
  expect: string;
  envelope?: string;
  reproducible: boolean;
}

async function main(): Promise<void> {
  const signedOnly = await packVector(false);
  const encrypted = await packVector(true);
  if (!encrypted.contentKey) throw new Error('encrypted vector has no content key');
  const binding = streamBinding((await readImage(bufferSource(encrypted.image))).manifestBytes);
  const envelope = sealEnvelope(encrypted.contentKey, binding, fixed.device.publicKey);
  const files: Record<string, Uint8Array> = {
    'signed-only.sihl': signedOnly.image,
    'encrypted.sihl': encrypted.image,
    'encrypted.envelope': envelope,
    'under-signed.sihl': await underSigned(signedOnly.image),
    'truncated.sihl': signedOnly.image.subarray(0, signedOnly.image.length - 1),
    'flipped-payload.sihl': Uint8Array.from(signedOnly.image, (b, i) =>
      i === signedOnly.image.length - 10 ? b ^ 1 : b,
    ),
  };
  const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const cases: VectorCase[] = [
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
      description: 'signed-only.sihl with one payload bit flipped',
      expect: 'PAYLOAD_DIGEST_MISMATCH',
      reproducible: true,
    },
  ].map((c) => ({ ...c, sha256: sha(files[c.file] as Uint8Array) }));
  const firmware = await vectorFirmware();
  const document = {
    comment:
      'Made by docs/vectors/generate.ts (npm run vectors). Seeds are SHA-256("sihl test vector <label>"). ' +
      'Verify with the root key below, threshold 1; images need 2 of the 3 approvers. The device key opens encrypted.envelope.',
    firmware: {
      source: 'first 3000 bytes of @pybricks/firmware 7.28.0 build/movehub.zip firmware-base.bin',
      size: firmware.length,
      sha256: sha(firmware),
    },
    root: { threshold: 1, keys: [toHex(fixed.root.publicKey)] },
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
