import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BEST_QUALITY_UP_TO, defaultQuality } from '../../../src/core/compress/brotli.ts';
import { isSihlError } from '../../../src/core/errors.ts';
import { bufferSource, chooseFilter, packImage, readImage } from '../../../src/core/image/index.ts';
import { makeTrust, pybricksCorpus, tempDir, testKey, writeTemp } from '../../helpers.ts';

const trust = makeTrust();
const corpus = await pybricksCorpus();
const options = { model: 'm', version: '1', delegation: trust.delegation, encrypt: true, quality: 5 };

test('the same firmware packed twice gives a different content key, stream header and payload', async () => {
  const dir = await tempDir();
  const input = await writeTemp(dir, 'fw.bin', corpus.get('movehub') as Uint8Array);
  const a = await packImage(input, join(dir, 'a.sihl'), options);
  const b = await packImage(input, join(dir, 'b.sihl'), options);
  assert.notDeepEqual(a.contentKey, b.contentKey);
  const ha = a.manifest.encryption.algorithm === 'secretstream' ? a.manifest.encryption.header : null;
  const hb = b.manifest.encryption.algorithm === 'secretstream' ? b.manifest.encryption.header : null;
  assert.ok(ha && hb && !Buffer.from(ha).equals(hb), 'fresh stream header');
  assert.notDeepEqual(a.manifest.payloadDigest, b.manifest.payloadDigest);
  assert.deepEqual(a.manifest.plaintextDigest, b.manifest.plaintextDigest);
});

test('the default Brotli quality is 11 up to 8 MiB and 9 above; only SIHL_TEST_QUICK_PACK=1 (the test suite) makes it 9 for all', () => {
  assert.equal(defaultQuality(100_000, {}), 11);
  assert.equal(defaultQuality(BEST_QUALITY_UP_TO, {}), 11);
  assert.equal(defaultQuality(BEST_QUALITY_UP_TO + 1, {}), 9);
  assert.equal(defaultQuality(100_000, { SIHL_TEST_QUICK_PACK: '1' }), 9);
  assert.equal(defaultQuality(100_000, { SIHL_TEST_QUICK_PACK: 'yes' }), 11, 'exactly 1, nothing else');
});

test('the branch filter is chosen by what the code is: Thumb for Cortex-M hubs, ARM for the EV3', async () => {
  const dir = await tempDir();
  for (const [name, expected] of [
    ['primehub', 'thumb'],
    ['cityhub', 'thumb'],
    ['ev3', 'arm'],
  ] as const) {
    const firmware = corpus.get(name) as Uint8Array;
    const path = await writeTemp(dir, `${name}.bin`, firmware);
    assert.equal(await chooseFilter(path, firmware.length, 16), expected, name);
  }
});

test('a signer who is not an approver in the delegation is refused before any work', async () => {
  const dir = await tempDir();
  const input = await writeTemp(dir, 'fw.bin', new Uint8Array(1000).fill(7));
  await assert.rejects(packImage(input, join(dir, 'x.sihl'), { ...options, signers: [testKey('mallory')] }), {
    code: 'SIGNATURE_UNKNOWN_KEY',
  });
  assert.deepEqual(await readdir(dir), ['fw.bin'], 'nothing is written');
});

test('an empty, missing or oversized-option firmware gives a clear error and leaves nothing behind', async () => {
  const dir = await tempDir();
  const empty = await writeTemp(dir, 'empty.bin', new Uint8Array(0));
  for (const [input, extra, code] of [
    [empty, {}, 'USAGE'],
    [join(dir, 'missing.bin'), {}, 'FILE_NOT_FOUND'],
    [empty, { chunkSize: 100 }, 'USAGE'],
    [empty, { quality: 1 }, 'USAGE'],
  ] as const) {
    try {
      await packImage(input, join(dir, 'out.sihl'), { ...options, ...extra });
      assert.fail('packing should fail');
    } catch (error) {
      assert.ok(isSihlError(error), String(error));
      assert.equal(error.code, code);
    }
  }
  assert.deepEqual((await readdir(dir)).sort(), ['empty.bin']);
});

test('an image is never written over an existing file unless asked', async () => {
  const dir = await tempDir();
  const input = await writeTemp(dir, 'fw.bin', new Uint8Array(3000).fill(1));
  const output = await writeTemp(dir, 'out.sihl', 'keep me');
  await assert.rejects(packImage(input, output, options), { code: 'FILE_EXISTS' });
  assert.equal(await readFile(output, 'utf8'), 'keep me');
  await packImage(input, output, { ...options, overwrite: true });
  assert.equal(
    (await readImage(bufferSource(new Uint8Array(await readFile(output))))).manifest.plaintextSize,
    3000,
  );
});

test('uncompressed images larger than one read buffer round-trip, signed only and encrypted', async () => {
  const {
    bufferSource: source,
    unpackPayload,
    verifyImage,
  } = await import('../../../src/core/image/index.ts');
  const dir = await tempDir();
  const firmware = Uint8Array.from({ length: 2 * 1024 * 1024 + 123 }, (_, i) => (i * 2654435761) >>> 24);
  const input = await writeTemp(dir, 'fw.bin', firmware);
  for (const encrypt of [false, true]) {
    const output = join(dir, `${encrypt}.sihl`);
    const result = await packImage(input, output, {
      ...options,
      encrypt,
      compression: 'none',
      signers: trust.approvers.slice(0, 2),
    });
    const bytes = source(new Uint8Array(await readFile(output)));
    const verified = await verifyImage(bytes, { root: trust.root });
    const parts: Uint8Array[] = [];
    await unpackPayload(bytes, verified, result.contentKey, {
      write: async (c) => void parts.push(c.slice()),
    });
    assert.ok(Buffer.concat(parts).equals(firmware), `encrypt=${encrypt}`);
  }
});
