import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openEnvelope, sealEnvelope } from '../../../src/core/format/envelope.ts';
import { streamBinding } from '../../../src/core/format/manifest.ts';
import {
  type ByteSink,
  packImage,
  unpackPayload,
  verifyImage,
  withFileSource,
} from '../../../src/core/image/index.ts';
import { device, makeTrust, pybricksCorpus, tempDir, writeTemp } from '../../helpers.ts';

const trust = makeTrust();
const corpus = await pybricksCorpus();

function collector(): ByteSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    write: async (chunk) => void parts.push(chunk.slice()),
    bytes: () => new Uint8Array(Buffer.concat(parts)),
  };
}

test('the corpus holds the seven Pybricks firmware builds', () => {
  assert.equal(corpus.size, 7);
});

for (const encrypt of [true, false]) {
  test(`every Pybricks build round-trips ${encrypt ? 'encrypted' : 'signed only'}`, async () => {
    const dir = await tempDir();
    let original = 0;
    let packed = 0;
    for (const [name, firmware] of corpus) {
      const input = await writeTemp(dir, `${name}.bin`, firmware);
      const output = join(dir, `${name}.${encrypt}.sihl`);
      const result = await packImage(input, output, {
        model: name,
        version: '7.28.0',
        delegation: trust.delegation,
        signers: trust.approvers.slice(0, 2),
        encrypt,
        quality: 9,
      });
      const envelope = result.contentKey
        ? sealEnvelope(result.contentKey, streamBinding(result.manifestBytes), device.publicKey)
        : null;
      const sink = collector();
      await withFileSource(output, async (source) => {
        const image = await verifyImage(source, { root: trust.root }, { model: name });
        const key = envelope ? openEnvelope(envelope, device, streamBinding(image.manifestBytes)) : null;
        await unpackPayload(source, image, key, sink);
      });
      assert.deepEqual(sink.bytes(), firmware, `${name} unpacks to the same bytes`);
      original += firmware.length;
      packed += (await readFile(output)).length;
    }
    assert.ok(packed < original * 0.6, `payloads are compressed (${packed} of ${original})`);
  });
}
