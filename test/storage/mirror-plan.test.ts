// The mirror's plan (src/storage/mirror.ts): decided from the two listings before any upload, so every
// refusal comes before the first byte goes up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlobInfo } from '../../src/storage/blob-store.ts';
import { MUTABLE_KEY, planMirror } from '../../src/storage/mirror.ts';

const file = (key: string, size: number): BlobInfo => ({ key, size }) as BlobInfo;
const timestamp = (version: number) => new TextEncoder().encode(JSON.stringify({ signed: { version } }));

test('uploads what the store lacks, counts what it has, and the timestamp only when it changed', () => {
  const local = [file('targets/m/a.sihl', 100), file('metadata/2.targets.json', 10), file(MUTABLE_KEY, 30)];
  const remote = new Map([['targets/m/a.sihl', file('targets/m/a.sihl', 100)]]);
  const plan = planMirror(local, remote, timestamp(2), timestamp(1));
  assert.deepEqual(
    plan.todo.map((f) => f.key),
    ['metadata/2.targets.json'],
  );
  assert.equal(plan.unchanged, 1);
  assert.equal(plan.timestampChanged, true);
  assert.equal(plan.total, 10 + timestamp(2).length);
  const again = planMirror(local, remote, timestamp(2), timestamp(2));
  assert.equal(again.timestampChanged, false);
  assert.equal(again.unchanged, 2, 'the same timestamp counts as unchanged');
});

test('refuses a store that serves a newer timestamp, and a published file that changed size', () => {
  assert.throws(() => planMirror([], new Map(), timestamp(1), timestamp(2)), {
    code: 'FILE_EXISTS',
    message: /timestamp version 2, newer than version 1/,
  });
  const changed = new Map([['releases/m-1/envelopes/0.bin', file('releases/m-1/envelopes/0.bin', 368)]]);
  assert.throws(
    () => planMirror([file('releases/m-1/envelopes/0.bin', 736)], changed, timestamp(2), timestamp(1)),
    { code: 'FILE_EXISTS', message: /another file of 368 bytes here, not 736/ },
  );
});

test("refuses a store that serves another timestamp of the same version: another staging copy published it, and its same-size metadata would be taken for this copy's", () => {
  const theirs = new TextEncoder().encode(JSON.stringify({ signed: { version: 2, expires: 'b' } }));
  const ours = new TextEncoder().encode(JSON.stringify({ signed: { version: 2, expires: 'a' } }));
  const local = [file('metadata/2.snapshot.json', 300), file('metadata/2.targets.json', 900)];
  const remote = new Map(local.map((f) => [f.key, f]));
  assert.throws(() => planMirror(local, remote, ours, theirs), {
    code: 'FILE_EXISTS',
    message: /another timestamp of version 2 than the staging copy holds/,
  });
});
