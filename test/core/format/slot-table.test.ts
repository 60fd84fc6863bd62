// The envelope tables' layout (docs/FORMAT.md §Envelope tables): sizes, buckets and placement.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from '../../../src/core/crypto/index.ts';
import {
  BUCKET_SLOTS,
  candidateBuckets,
  checkTableSlots,
  MIN_TABLE_SLOTS,
  placeRecipients,
  RECIPIENT_BYTES,
  recipientIdFor,
  tableSlots,
} from '../../../src/core/format/slot-table.ts';

test('table sizes are powers of two from 1,024, at most three quarters full', () => {
  assert.deepEqual([0, 1, 768, 769, 1_536, 1_537, 1_000_000].map(tableSlots), [
    MIN_TABLE_SLOTS,
    1_024,
    1_024,
    2_048,
    2_048,
    4_096,
    2_097_152,
  ]);
  for (const bad of [1_000, 512, 2 ** 25, 1_536.5, '1024'])
    assert.throws(() => checkTableSlots(bad), { code: 'TUF_METADATA_INCONSISTENT' });
  assert.equal(checkTableSlots(4_096), 4_096);
});

test('every recipient is placed once, in one of its two candidate buckets', () => {
  const count = 12_000;
  const slots = tableSlots(count);
  const ids = randomBytes(count * RECIPIENT_BYTES);
  const owner = placeRecipients(ids, slots);
  assert.ok(owner);
  const seen = new Set<number>();
  owner.forEach((i, slot) => {
    if (i < 0) return;
    assert.ok(!seen.has(i), `recipient ${i} placed twice`);
    seen.add(i);
    const buckets = candidateBuckets(ids.subarray(i * RECIPIENT_BYTES, (i + 1) * RECIPIENT_BYTES), slots);
    assert.ok(buckets.includes(Math.floor(slot / BUCKET_SLOTS)));
  });
  assert.equal(seen.size, count);
});

test('a recipient id depends on the salt: the same key has another id in every publication', () => {
  const key = randomBytes(32);
  const ids = new Set(
    Array.from({ length: 50 }, () => Buffer.from(recipientIdFor(randomBytes(16), key)).toString('hex')),
  );
  assert.equal(ids.size, 50);
});
