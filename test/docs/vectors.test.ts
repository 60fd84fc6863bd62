import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixed, here, packVector, type VectorCase, vectorFirmware } from '../../docs/vectors/generate.ts';
import { isSihlError } from '../../src/core/errors.ts';
import { fromHex } from '../../src/core/format/bytes.ts';
import { openEnvelope } from '../../src/core/format/envelope.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { bufferSource, unpackPayload, verifyImage } from '../../src/core/image/index.ts';

const document = JSON.parse(await readFile(join(here, 'vectors.json'), 'utf8')) as {
  root: { threshold: number; keys: string[] };
  cases: VectorCase[];
};
const root = { threshold: document.root.threshold, keys: document.root.keys.map(fromHex) };
const firmware = await vectorFirmware();

async function outcome(
  bytes: Uint8Array,
  envelope?: Uint8Array,
): Promise<{ code: string; plaintext?: Uint8Array }> {
  const source = bufferSource(bytes);
  try {
    const image = await verifyImage(source, { root });
    const key = envelope ? openEnvelope(envelope, fixed.device, streamBinding(image.manifestBytes)) : null;
    const parts: Uint8Array[] = [];
    await unpackPayload(source, image, key, { write: async (c) => void parts.push(c.slice()) });
    return { code: 'valid', plaintext: new Uint8Array(Buffer.concat(parts)) };
  } catch (error) {
    if (isSihlError(error)) return { code: error.code };
    throw error;
  }
}

test('the signed-only vector is reproduced byte for byte from its fixed inputs', async () => {
  const { image } = await packVector(false);
  const committed = new Uint8Array(await readFile(join(here, 'signed-only.sihl')));
  assert.ok(Buffer.from(image).equals(committed), 'packing the fixed inputs gives the committed image');
});

for (const c of document.cases) {
  test(`vector ${c.file} gives ${c.expect}`, async () => {
    const bytes = new Uint8Array(await readFile(join(here, c.file)));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), c.sha256, 'file matches vectors.json');
    const envelope = c.envelope ? new Uint8Array(await readFile(join(here, c.envelope))) : undefined;
    const result = await outcome(bytes, envelope);
    assert.equal(result.code, c.expect);
    if (c.expect === 'valid')
      assert.ok(Buffer.from(result.plaintext as Uint8Array).equals(firmware), 'unpacks to the firmware');
  });
}

test('the encrypted vector does not open with another device key', async () => {
  const bytes = new Uint8Array(await readFile(join(here, 'encrypted.sihl')));
  const envelope = new Uint8Array(await readFile(join(here, 'encrypted.envelope')));
  const image = await verifyImage(bufferSource(bytes), { root });
  assert.throws(() => openEnvelope(envelope, fixed.otherDevice, streamBinding(image.manifestBytes)), {
    code: 'ENVELOPE_WRONG_RECIPIENT',
  });
});
