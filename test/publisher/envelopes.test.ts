// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type BoxKeyPair,
  generateBoxKeyPair,
  generateContentKey,
  generateSigningKeyPair,
  randomBytes,
  sha256,
} from '../../src/core/crypto/index.ts';
import { isSihlError } from '../../src/core/errors.ts';
import {
  decodeEnvelope,
  ENVELOPE_BYTES,
  openEnvelope,
  recipientIdOf,
} from '../../src/core/format/envelope.ts';
import { SLOTS_PER_PART as ENVELOPES_PER_PART } from '../../src/core/format/slot-table.ts';
import {
  envelopeLocation,
  envelopeRange,
  publishEnvelopes,
  READ_BATCH,
  SEAL_BATCH,
} from '../../src/publisher/envelopes.ts';
import {
  type EligibleDevice,
  type NewDevice,
  openRegistry,
  REGISTRY_BATCH,
  type Registry,
} from '../../src/publisher/registry.ts';
import { tempDir } from '../helpers.ts';

const NOW = 1_750_000_000;
const binding = sha256(Uint8Array.of(7));

function newDevice(box: Uint8Array, model = 'sensor'): NewDevice {
  return { sign: generateSigningKeyPair().publicKey, box, model, owner: 'acme', now: NOW };
}

async function registryIn(dir: string): Promise<Registry> {
  const registry = openRegistry(join(dir, 'registry.sqlite'));
  return registry;
}

/** What a device does: one range request of exactly 184 bytes on its part file. */
async function fetchEnvelope(release: string, idx: number): Promise<Uint8Array> {
  const { file, offset, length } = envelopeLocation(idx);
  const handle = await open(join(release, file), 'r');
  try {
    const out = new Uint8Array(length);
    const { bytesRead } = await handle.read(out, 0, length, offset);
    assert.equal(bytesRead, length, `slot ${idx} lies inside its part file`);
    return out;
  } finally {
    await handle.close();
  }
}

const refusal = (code: string) => (error: unknown) => isSihlError(error) && error.code === code;

test('a device finds its envelope at one 184-byte range of one part file', () => {
  assert.deepEqual(envelopeLocation(0), { file: 'envelopes/0.bin', offset: 0, length: ENVELOPE_BYTES });
  assert.deepEqual(envelopeLocation(65_535), {
    file: 'envelopes/0.bin',
    offset: 65_535 * 184,
    length: 184,
  });
  assert.deepEqual(envelopeLocation(65_536), { file: 'envelopes/1.bin', offset: 0, length: 184 });
  assert.deepEqual(envelopeLocation(999_999), {
    file: 'envelopes/15.bin',
    offset: (999_999 - 15 * 65_536) * 184,
    length: 184,
  });
  assert.equal(envelopeRange(1), 'bytes=184-367');
  assert.throws(() => envelopeLocation(-1), refusal('USAGE'));
  assert.throws(() => envelopeLocation(1.5), refusal('USAGE'));
});

test('seals to the eligible device only: revoked and other-model slots are zeros a device refuses', async () => {
  const dir = await tempDir();
  const registry = await registryIn(dir);
  const pairs = [generateBoxKeyPair(), generateBoxKeyPair(), generateBoxKeyPair()];
  const [eligible, revoked, other] = registry.provisionMany([
    newDevice(pairs[0]?.publicKey as Uint8Array),
    newDevice(pairs[1]?.publicKey as Uint8Array),
    newDevice(pairs[2]?.publicKey as Uint8Array, 'other'),
  ]);
  registry.revoke(revoked?.id as string, NOW);
  const contentKey = generateContentKey();
  const release = join(dir, 'release');

  const result = await publishEnvelopes({ registry, model: 'sensor', contentKey, binding, dir: release });
  assert.deepEqual(
    { ...result, seconds: 0 },
    { devices: 3, sealed: 1, skipped: 2, parts: 1, bytes: 3 * 184, seconds: 0 },
  );
  assert.equal((await stat(join(release, 'envelopes/0.bin'))).size, 3 * 184);
  const opened = openEnvelope(
    await fetchEnvelope(release, eligible?.idx as number),
    pairs[0] as BoxKeyPair,
    binding,
  );
  assert.deepEqual(opened, contentKey);
  for (const idx of [revoked?.idx as number, other?.idx as number]) {
    const slot = await fetchEnvelope(release, idx);
    assert.ok(slot.every((b) => b === 0));
    assert.throws(() => decodeEnvelope(slot), refusal('ENVELOPE_MALFORMED'));
  }
  assert.deepEqual(await readdir(join(release, 'envelopes')), ['0.bin'], 'no temporary file is left');
  registry.close();
});

test('a rollout leaves the devices outside it empty, and publishing again replaces the tables', async () => {
  const dir = await tempDir();
  const registry = await registryIn(dir);
  const pairs = Array.from({ length: 4 }, () => generateBoxKeyPair());
  const ids = registry.provisionMany(pairs.map((p) => newDevice(p.publicKey))).map((d) => d.id);
  const release = join(dir, 'release');
  const firstKey = generateContentKey();
  const half = await publishEnvelopes({
    registry,
    model: 'sensor',
    contentKey: firstKey,
    binding,
    dir: release,
    rollout: (id) => id === ids[1] || id === ids[3],
  });
  assert.equal(half.sealed, 2);
  assert.ok((await fetchEnvelope(release, 0)).every((b) => b === 0));
  assert.deepEqual(openEnvelope(await fetchEnvelope(release, 3), pairs[3] as BoxKeyPair, binding), firstKey);

  const secondKey = generateContentKey();
  const progress: number[] = [];
  const all = await publishEnvelopes({
    registry,
    model: 'sensor',
    contentKey: secondKey,
    binding,
    dir: release,
    onProgress: (done, total) => {
      assert.equal(total, 4);
      progress.push(done);
    },
  });
  assert.equal(all.sealed, 4);
  assert.equal(progress.at(-1), 4);
  assert.deepEqual(
    progress,
    [...progress].sort((a, b) => a - b),
    'progress only moves forward',
  );
  for (const [idx, pair] of pairs.entries()) {
    assert.deepEqual(openEnvelope(await fetchEnvelope(release, idx), pair, binding), secondKey);
  }
  registry.close();
});

test('refuses a content key or binding of the wrong length before sealing anything', async () => {
  const dir = await tempDir();
  const registry = await registryIn(dir);
  const base = { registry, model: 'sensor', dir: join(dir, 'release') };
  await assert.rejects(
    publishEnvelopes({ ...base, contentKey: new Uint8Array(31), binding }),
    refusal('USAGE'),
  );
  await assert.rejects(
    publishEnvelopes({ ...base, contentKey: generateContentKey(), binding: new Uint8Array(8) }),
    refusal('USAGE'),
  );
  registry.close();
});

test('70,000 devices cross a part boundary, and publishing never reads far ahead of what it wrote', async () => {
  const dir = await tempDir();
  const registry = await registryIn(dir);
  const total = 70_000;
  const real = new Map<number, BoxKeyPair>(
    [0, 1, 12_345, 65_535, 65_536, 65_537, total - 1].map((idx) => [idx, generateBoxKeyPair()]),
  );
  // Any 32 bytes are an X25519 public key, so most devices get random ones (no key pair to make).
  for (let start = 0; start < total; start += REGISTRY_BATCH) {
    const chunk: NewDevice[] = [];
    for (let idx = start; idx < Math.min(total, start + REGISTRY_BATCH); idx++) {
      chunk.push(newDevice(real.get(idx)?.publicKey ?? randomBytes(32)));
    }
    registry.provisionMany(chunk);
  }
  const contentKey = generateContentKey();
  const release = join(dir, 'release');

  // Count the devices handed out by the registry against the slots settled on disk.
  let read = 0;
  let settled = 0;
  let mostAhead = 0;
  const watched = {
    count: () => registry.count(),
    *eligible(model: string, size?: number) {
      for (const batch of registry.eligible(model, size)) {
        read += batch.length;
        mostAhead = Math.max(mostAhead, read - settled);
        yield batch;
      }
    },
  };
  const result = await publishEnvelopes({
    registry: watched,
    model: 'sensor',
    contentKey,
    binding,
    dir: release,
    onProgress: (done) => {
      settled = done;
    },
  });
  assert.equal(result.sealed, total);
  assert.equal(result.parts, 2);
  assert.equal(result.bytes, total * ENVELOPE_BYTES);
  // The rows just read, the batch being filled and two batches per thread in flight, plus as many
  // again finished out of order behind the progress frontier: never the whole fleet.
  const threads = availableParallelism();
  assert.ok(
    mostAhead <= READ_BATCH + SEAL_BATCH + 4 * threads * SEAL_BATCH,
    `read ${mostAhead} devices ahead of the tables`,
  );

  assert.equal((await stat(join(release, 'envelopes/0.bin'))).size, ENVELOPES_PER_PART * ENVELOPE_BYTES);
  assert.equal(
    (await stat(join(release, 'envelopes/1.bin'))).size,
    (total - ENVELOPES_PER_PART) * ENVELOPE_BYTES,
  );
  for (const [idx, pair] of real) {
    assert.deepEqual(
      openEnvelope(await fetchEnvelope(release, idx), pair, binding),
      contentKey,
      `idx ${idx}`,
    );
  }
  // Every other slot holds an envelope addressed to its own device's key.
  for (const idx of [2, 40_000, 65_534, 69_998]) {
    const device = registry.list({ limit: 1, offset: idx })[0];
    assert.equal(device?.idx, idx);
    const envelope = decodeEnvelope(await fetchEnvelope(release, idx));
    assert.deepEqual(envelope.recipient, recipientIdOf(device?.box as Uint8Array));
  }
  const part1 = await readFile(join(release, 'envelopes/1.bin'));
  assert.equal(part1.subarray(0, 4).toString('latin1'), 'SIHK');
  registry.close();
});

test('a failure part-way leaves no temporary files and the tables of the last publication', async () => {
  const dir = await tempDir();
  const registry = await registryIn(dir);
  const pair = generateBoxKeyPair();
  const chunk = Array.from({ length: 5_000 }, (_, i) =>
    newDevice(i === 0 ? pair.publicKey : randomBytes(32)),
  );
  registry.provisionMany(chunk);
  const release = join(dir, 'release');
  const contentKey = generateContentKey();
  await publishEnvelopes({ registry, model: 'sensor', contentKey, binding, dir: release });
  const before = await readFile(join(release, 'envelopes/0.bin'));

  // A registry that hands out a broken key after some batches are already being sealed.
  const broken = {
    count: () => registry.count(),
    *eligible(model: string) {
      for (const batch of registry.eligible(model, 1_000)) {
        yield (batch[0]?.idx ?? 0) < 4_000
          ? batch
          : [{ ...(batch[0] as EligibleDevice), box: new Uint8Array(5) }];
      }
    },
  };
  await assert.rejects(
    publishEnvelopes({
      registry: broken,
      model: 'sensor',
      contentKey: generateContentKey(),
      binding,
      dir: release,
    }),
    refusal('KEY_INVALID'),
  );
  assert.deepEqual(await readdir(join(release, 'envelopes')), ['0.bin']);
  assert.deepEqual(await readFile(join(release, 'envelopes/0.bin')), before);
  assert.deepEqual(openEnvelope(await fetchEnvelope(release, 0), pair, binding), contentKey);
  registry.close();
});
