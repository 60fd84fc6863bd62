// Images that are correctly signed but whose payload breaks a rule of docs/FORMAT.md §Payload: made
// here by hand with keys the test controls, as a careless or compromised packer could.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliCompressSync, constants } from 'node:zlib';
import { generateContentKey, StreamEncryptor, sha256 } from '../../../src/core/crypto/index.ts';
import { isSihlError } from '../../../src/core/errors.ts';
import { encodeHeader } from '../../../src/core/format/header.ts';
import {
  encodeManifest,
  expectedPayloadSize,
  type Manifest,
  streamBinding,
} from '../../../src/core/format/manifest.ts';
import { encodeSignatureBlock, signEntry } from '../../../src/core/format/signatures.ts';
import { chainPieces } from '../../../src/core/image/chain-pass.ts';
import { bufferSource, imageMessage, unpackPayload, verifyImage } from '../../../src/core/image/index.ts';
import { makeTrust } from '../../helpers.ts';

const trust = makeTrust();
const CHUNK = 256;
const firmware = Uint8Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 251) ^ (i >> 6));

interface Recipe {
  compressed?: Uint8Array;
  windowLog?: number;
  plaintextSize?: number;
  plaintextDigest?: Uint8Array;
  /** Tag of chunk i out of n. */
  final?: (i: number, n: number) => boolean;
  /** Associated data other than the stream binding. */
  ad?: Uint8Array;
}

function brotli(data: Uint8Array, windowLog = 16): Uint8Array {
  return brotliCompressSync(data, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: windowLog },
  });
}

/** Builds, signs (alice and bob) and returns an encrypted image and its content key. */
function build(recipe: Recipe): { image: Uint8Array; key: Uint8Array } {
  const compressed = recipe.compressed ?? brotli(firmware);
  const key = generateContentKey();
  const encryptor = new StreamEncryptor(key);
  let manifest: Manifest = {
    model: 'test',
    version: '1.0.0',
    securityVersion: 0,
    releaseId: new Uint8Array(16),
    created: 0,
    plaintextSize: recipe.plaintextSize ?? firmware.length,
    plaintextDigest: recipe.plaintextDigest ?? sha256(firmware),
    compression: {
      algorithm: 'brotli',
      windowLog: recipe.windowLog ?? 16,
      filter: 'none',
      compressedSize: compressed.length,
    },
    encryption: { algorithm: 'secretstream', header: encryptor.header },
    chunkSize: CHUNK,
    payloadSize: expectedPayloadSize(compressed.length, CHUNK, true),
    payloadDigest: new Uint8Array(32),
  };
  const ad = recipe.ad ?? streamBinding(encodeManifest(manifest));
  const n = Math.max(1, Math.ceil(compressed.length / CHUNK));
  const isFinal = recipe.final ?? ((i, count) => i === count - 1);
  const parts: Uint8Array[] = [];
  let pusher = encryptor;
  for (let i = 0; i < n; i++) {
    const final = isFinal(i, n);
    parts.push(pusher.push(compressed.subarray(i * CHUNK, (i + 1) * CHUNK), ad, final));
    // After an early FINAL this encryptor is spent; the rest come from another stream, of the right
    // sizes. The verifier must stop at the early FINAL whatever follows it.
    if (final && i < n - 1) pusher = new StreamEncryptor(key);
  }
  const { payload, digest } = chainPieces(parts);
  manifest = { ...manifest, payloadSize: payload.length, payloadDigest: digest };
  const manifestBytes = encodeManifest(manifest);
  const message = imageMessage(manifestBytes);
  const block = encodeSignatureBlock(
    trust.approvers.slice(0, 2).map((a) => signEntry(a.secretKey, a.publicKey, message)),
  );
  const header = encodeHeader({
    manifestLength: manifestBytes.length,
    delegationLength: trust.delegation.length,
    signatureBlockLength: block.length,
    rootChainLength: 0,
    payloadLength: payload.length,
  });
  return { image: Buffer.concat([header, manifestBytes, trust.delegation, block, payload]), key };
}

async function outcome({ image, key }: { image: Uint8Array; key: Uint8Array }): Promise<string> {
  const source = bufferSource(image);
  const out: Uint8Array[] = [];
  try {
    const verified = await verifyImage(source, { root: trust.root });
    await unpackPayload(source, verified, key, { write: async (c) => void out.push(c.slice()) });
  } catch (error) {
    if (isSihlError(error)) return error.code;
    throw error;
  }
  assert.ok(Buffer.concat(out).equals(firmware), 'a valid image unpacks to the firmware');
  return 'OK';
}

test('a correctly built image passes (the recipe itself is sound)', async () => {
  assert.equal(await outcome(build({})), 'OK');
});

test('a stream whose last chunk is not tagged FINAL is refused as truncated', async () => {
  assert.equal(await outcome(build({ final: () => false })), 'STREAM_TRUNCATED');
});

test('a FINAL chunk followed by more chunks is refused', async () => {
  assert.equal(await outcome(build({ final: (i) => i === 0 })), 'STREAM_TRAILING_DATA');
});

test('chunks bound to another manifest do not decrypt', async () => {
  assert.equal(await outcome(build({ ad: new Uint8Array(32) })), 'STREAM_DECRYPT_FAILED');
});

test('a payload that decompresses past its signed size is stopped', async () => {
  const big = new Uint8Array(4 * 1024 * 1024); // compresses to a few hundred bytes
  const code = await outcome(build({ compressed: brotli(big), plaintextSize: firmware.length }));
  assert.equal(code, 'PLAINTEXT_SIZE_MISMATCH');
});

test('a payload that decompresses to less than its signed size is refused', async () => {
  assert.equal(await outcome(build({ plaintextSize: firmware.length + 1 })), 'PLAINTEXT_SIZE_MISMATCH');
});

test('firmware that does not match the signed plaintext digest is refused', async () => {
  assert.equal(await outcome(build({ plaintextDigest: new Uint8Array(32) })), 'PLAINTEXT_DIGEST_MISMATCH');
});

test('a compressed stream that asks for a larger window than the manifest allows is refused', async () => {
  const wide = brotli(firmware, 18);
  assert.equal(await outcome(build({ compressed: wide, windowLog: 16 })), 'DECOMPRESS_FAILED');
  assert.equal(await outcome(build({ windowLog: 12 })), 'DECOMPRESS_FAILED');
});

test('a compressed stream that is not Brotli is refused', async () => {
  const junk = Uint8Array.from({ length: 700 }, (_, i) => (i * 37) & 0xfe);
  assert.equal(await outcome(build({ compressed: junk })), 'DECOMPRESS_FAILED');
});

test('compressed bytes after the end of the Brotli stream are refused', async () => {
  const padded = Buffer.concat([brotli(firmware), new Uint8Array(300).fill(0x55)]);
  assert.equal(await outcome(build({ compressed: padded })), 'DECOMPRESS_FAILED');
});

test('a failing output (a full disk) is an I/O error, not a bad image', async () => {
  const { image, key } = build({});
  const source = bufferSource(image);
  const verified = await verifyImage(source, { root: trust.root });
  const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  await assert.rejects(
    unpackPayload(source, verified, key, {
      write: async () => {
        throw full;
      },
    }),
    { code: 'IO_ERROR' },
  );
});
