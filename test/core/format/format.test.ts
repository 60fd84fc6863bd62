import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utf8 } from '../../../src/core/format/bytes.ts';
import { decodeManifest, encodeManifest, type Manifest } from '../../../src/core/format/manifest.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  signEntry,
  verifyThreshold,
} from '../../../src/core/format/signatures.ts';
import { testKey } from '../../helpers.ts';
import { tenByteManifest } from './support.ts';

const manifest: Manifest = tenByteManifest('abctest', '1.0.0', 1);

test('a manifest decodes to what was encoded', () => {
  assert.deepEqual(decodeManifest(encodeManifest(manifest)), manifest);
});

test('a byte-order mark in the model is refused, not silently dropped', () => {
  const bytes = encodeManifest(manifest);
  const at = Buffer.from(bytes).indexOf(utf8.encode('abc'));
  bytes.set([0xef, 0xbb, 0xbf], at);
  assert.throws(() => decodeManifest(bytes), { code: 'MANIFEST_MALFORMED' });
});

test('a manifest record out of order is refused', () => {
  const bytes = encodeManifest(manifest);
  bytes[0] = 2; // the model record claims to be the version record
  assert.throws(() => decodeManifest(bytes), { code: 'MANIFEST_MALFORMED' });
});

test('signature entries are written in key id order, and a reordered block is refused', () => {
  const message = utf8.encode('message');
  const signers = [testKey('alice'), testKey('bob'), testKey('carol')];
  const entries = signers.map((k) => signEntry(k.secretKey, k.publicKey, message));
  const trusted = { keys: signers.map((k) => k.publicKey), threshold: 2 };
  const decoded = decodeSignatureBlock(encodeSignatureBlock(entries));
  const ids = decoded.map((e) => Buffer.from(e.keyId).toString('hex'));
  assert.deepEqual(ids, [...ids].sort());
  assert.equal(verifyThreshold(message, decoded, trusted, 'test').length, 3);
  assert.throws(() => verifyThreshold(message, [...decoded].reverse(), trusted, 'test'), {
    code: 'SIGNATURE_BLOCK_MALFORMED',
  });
});
