// Edges of reading and verifying a whole image that mutation testing (docs/ASSURANCE.md) showed no
// other test pinned: the size checks against the header, the defaults of the trust anchors, the model
// and security-version checks at their boundary, and payload hashing in steps of any size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../../src/core/crypto/hash.ts';
import { encodeHeader, HEADER_BYTES } from '../../../src/core/format/header.ts';
import { decodeManifest } from '../../../src/core/format/manifest.ts';
import {
  bufferSource,
  digestRange,
  imageMessage,
  readImage,
  verifyImage,
} from '../../../src/core/image/index.ts';
import { type CorpusImage, corpusImages, MODEL, pinnedRoot, rootStatements } from '../../fuzz/corpus.ts';
import { refusesAsync as refuses } from '../../support/refuses.ts';

const [encrypted, signedOnly, chained] = (await corpusImages()) as [CorpusImage, CorpusImage, CorpusImage];
const anchors = { root: pinnedRoot };

test('an image is exactly as long as its header says: shorter, longer and header-only sizes are named', async () => {
  const bytes = encrypted.bytes;
  await refuses(
    () => readImage(bufferSource(bytes.subarray(0, HEADER_BYTES - 1))),
    'IMAGE_TRUNCATED',
    /^image is 31 bytes, shorter than its 32-byte header$/,
  );
  await refuses(
    () => readImage(bufferSource(bytes.subarray(0, HEADER_BYTES))),
    'IMAGE_TRUNCATED',
    new RegExp(`^image is 32 bytes; its header describes ${bytes.length}$`),
  );
  await refuses(
    () => readImage(bufferSource(bytes.subarray(0, bytes.length - 1))),
    'IMAGE_TRUNCATED',
    /its header describes/,
  );
  await refuses(
    () => readImage(bufferSource(new Uint8Array([...bytes, 0, 0]))),
    'IMAGE_TRAILING_BYTES',
    /^image has 2 bytes after its payload$/,
  );
});

test('the parts are read at their offsets, and the payload starts after the root chain', async () => {
  const image = await readImage(bufferSource(chained.bytes));
  const [header, manifest, delegation, signatures, chain, payload] = chained.parts as Uint8Array[];
  assert.deepEqual(image.manifestBytes, manifest);
  assert.deepEqual(image.delegationBytes, delegation);
  assert.deepEqual(image.rootChainBytes, chain);
  assert.equal(image.rootChain.length, 2);
  assert.equal(image.signatures.length, 2);
  assert.equal(image.payloadOffset, chained.bytes.length - (payload as Uint8Array).length);
  assert.equal(
    image.payloadOffset,
    (header as Uint8Array).length +
      (manifest as Uint8Array).length +
      (delegation as Uint8Array).length +
      (signatures as Uint8Array).length +
      (chain as Uint8Array).length,
  );
  const context = new TextEncoder().encode('sihl/v1/image\0');
  assert.ok(
    Buffer.from(imageMessage(manifest as Uint8Array)).equals(
      Buffer.concat([context, manifest as Uint8Array]),
    ),
  );
});

test('a header whose payload length disagrees with the signed manifest is refused as a bad header', async () => {
  const [, manifest, delegation, signatures, chain] = signedOnly.parts as Uint8Array[];
  const decoded = decodeManifest(manifest as Uint8Array);
  // Same total size, split differently: one payload byte moved into the root chain's length.
  const header = encodeHeader({
    manifestLength: (manifest as Uint8Array).length,
    delegationLength: (delegation as Uint8Array).length,
    signatureBlockLength: (signatures as Uint8Array).length,
    rootChainLength: (chain as Uint8Array).length + 1,
    payloadLength: decoded.payloadSize - 1,
  });
  const bytes = new Uint8Array(Buffer.concat([header, ...(signedOnly.parts.slice(1) as Uint8Array[])]));
  await refuses(
    () => readImage(bufferSource(bytes)),
    'IMAGE_BAD_HEADER',
    /^header payload length differs from the signed manifest$/,
  );
});

test('trust anchors default to root version 1 and any delegation version', async () => {
  const verified = await verifyImage(bufferSource(chained.bytes), anchors);
  assert.equal(verified.root.version, 3, 'the chain led from the pinned root 1 to root 3');
  assert.equal(verified.approvers.length, 2);
  // A device that pinned root 3 skips the chain; one that claims root 2 with root 1's keys fails.
  const root3 = rootStatements[1]?.root;
  const at3 = await verifyImage(bufferSource(chained.bytes), { root: root3 as never, rootVersion: 3 });
  assert.equal(at3.root.version, 3);
  await refuses(
    () => verifyImage(bufferSource(chained.bytes), { root: pinnedRoot, rootVersion: 2 }),
    'SIGNATURE_UNKNOWN_KEY',
    /root version 3 \(old keys\)/,
  );
  await refuses(
    () => verifyImage(bufferSource(chained.bytes), { ...anchors, minDelegationVersion: 3 }),
    'DELEGATION_ROLLBACK',
    /delegation version 2 is older than 3/,
  );
  assert.equal(
    (await verifyImage(bufferSource(chained.bytes), { ...anchors, minDelegationVersion: 2 })).delegation
      .delegation.version,
    2,
  );
});

test('model and security version: the same passes, another model or a lower version is refused', async () => {
  const source = () => bufferSource(encrypted.bytes);
  assert.equal(
    (await verifyImage(source(), anchors, { model: MODEL, minSecurityVersion: 3 })).manifest.securityVersion,
    3,
  );
  await refuses(
    () => verifyImage(source(), anchors, { model: 'other' }),
    'MODEL_MISMATCH',
    new RegExp(`^image is for model "${MODEL}", not "other"$`),
  );
  await refuses(
    () => verifyImage(source(), anchors, { minSecurityVersion: 4 }),
    'SECURITY_VERSION_ROLLBACK',
    /^image security version 3 is below the device's 4$/,
  );
  assert.ok(await verifyImage(source(), anchors, {}), 'no model and no minimum: neither is checked');
});

test('a changed payload byte is refused by the chunk chain, in the first and the last chunk, in any read size', async () => {
  const payloadStart = encrypted.bytes.length - (encrypted.parts[5] as Uint8Array).length;
  for (const at of [payloadStart, encrypted.bytes.length - 1]) {
    const bytes = new Uint8Array(encrypted.bytes);
    bytes[at] = (bytes[at] as number) ^ 1;
    const chunk = at === payloadStart ? '0' : '\\d+';
    for (const readBytes of [1, 7, 1 << 20]) {
      await refuses(
        () => verifyImage(bufferSource(bytes), anchors, { readBytes }),
        'PAYLOAD_DIGEST_MISMATCH',
        new RegExp(
          `^payload chunk ${chunk} of \\d+ does not match the digest that the signed manifest chains to it$`,
        ),
      );
    }
  }
});

test('payload hashing reads exactly the range, in steps of the given size, into one reused buffer', async () => {
  const data = new Uint8Array(1000).map((_, i) => i * 7);
  const reads: [number, number][] = [];
  const buffers = new Set<Uint8Array>();
  const source = {
    size: data.length,
    read: async (offset: number, length: number, buffer?: Uint8Array) => {
      reads.push([offset, length]);
      assert.ok(buffer, 'a buffer is passed');
      buffers.add(buffer);
      assert.ok(buffer.length >= length);
      return data.subarray(offset, offset + length);
    },
  };
  assert.deepEqual(await digestRange(source, 10, 25, 10), sha256(data.subarray(10, 35)));
  assert.deepEqual(reads, [
    [10, 10],
    [20, 10],
    [30, 5],
  ]);
  assert.equal(buffers.size, 1);
  assert.equal([...buffers][0]?.length, 10);
  reads.length = 0;
  assert.deepEqual(await digestRange(source, 0, 1000), sha256(data), 'the default step reads it all at once');
  assert.deepEqual(reads, [[0, 1000]]);
  reads.length = 0;
  assert.deepEqual(await digestRange(source, 5, 0, 10), sha256(new Uint8Array(0)));
  assert.deepEqual(reads, []);
});

test('the parts read from a source are copies: a source that reuses its buffer cannot change them', async () => {
  const bytes = new Uint8Array(chained.bytes);
  const image = await readImage(bufferSource(bytes));
  bytes.fill(0);
  assert.deepEqual(image.manifestBytes, chained.parts[1]);
  assert.deepEqual(image.delegationBytes, chained.parts[2]);
  assert.deepEqual(image.rootChainBytes, chained.parts[4]);
  assert.deepEqual(image.signatures[0]?.keyId.length, 32);
  assert.equal(image.signatures.length, 2);
});

test('a refusal of the approvers names the image', async () => {
  const [header, manifest, delegation, , chain, payload] = signedOnly.parts as Uint8Array[];
  const block = new Uint8Array(4);
  const bytes = new Uint8Array(
    Buffer.concat([
      encodeHeader({ ...(await readImage(bufferSource(signedOnly.bytes))).header, signatureBlockLength: 4 }),
      manifest as Uint8Array,
      delegation as Uint8Array,
      block,
      chain as Uint8Array,
      payload as Uint8Array,
    ]),
  );
  assert.ok(header);
  await refuses(
    () => verifyImage(bufferSource(bytes), anchors),
    'SIGNATURE_THRESHOLD',
    /^image has 0 valid signature\(s\)/,
  );
});
