import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateBoxKeyPair, generateSigningKeyPair, sha256 } from '../../src/core/crypto/index.ts';
import { isSihlError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { type NewDevice, openRegistry, type Registry } from '../../src/publisher/registry.ts';
import { tempDir } from '../helpers.ts';

const NOW = 1_750_000_000;

function newDevice(model = 'sensor-a', owner = 'acme'): NewDevice {
  return {
    sign: generateSigningKeyPair().publicKey,
    box: generateBoxKeyPair().publicKey,
    model,
    owner,
    now: NOW,
  };
}

async function freshRegistry(): Promise<{ registry: Registry; path: string }> {
  const path = join(await tempDir(), 'registry.sqlite');
  return { registry: openRegistry(path), path };
}

const refusal = (code: string, includes: string) => (error: unknown) =>
  isSihlError(error) && error.code === code && error.message.includes(includes);

test('provisions devices with dense indexes from 0 and ids that hash their signing key', async () => {
  const { registry } = await freshRegistry();
  const devices = [newDevice(), newDevice(), newDevice('sensor-b')];
  const done = devices.map((d) => registry.provision(d));
  assert.deepEqual(
    done.map((d) => d.idx),
    [0, 1, 2],
  );
  assert.equal(done[0]?.id, toHex(sha256(devices[0]?.sign as Uint8Array)));
  assert.equal(registry.count(), 3);
  const got = registry.get(done[2]?.id as string);
  assert.equal(got?.idx, 2);
  assert.equal(got?.model, 'sensor-b');
  assert.equal(got?.owner, 'acme');
  assert.equal(got?.revokedAt, null);
  assert.equal(got?.provisionedAt, NOW);
  assert.deepEqual(got?.box, devices[2]?.box);
  registry.close();
});

test('refuses a device that is already registered, naming its id', async () => {
  const { registry } = await freshRegistry();
  const device = newDevice();
  const { id } = registry.provision(device);
  assert.throws(() => registry.provision({ ...device, owner: 'someone else' }), refusal('USAGE', id));
  assert.equal(registry.count(), 1);
  assert.equal(registry.provision(newDevice()).idx, 1, 'a refused device takes no index');
  registry.close();
});

test('refuses keys of the wrong length, a signing key that is not a valid point, and bad fields', async () => {
  const { registry } = await freshRegistry();
  const good = newDevice();
  assert.throws(() => registry.provision({ ...good, box: new Uint8Array(31) }), refusal('KEY_INVALID', '32'));
  assert.throws(
    () => registry.provision({ ...good, sign: new Uint8Array(33) }),
    refusal('KEY_INVALID', '32'),
  );
  assert.throws(
    () => registry.provision({ ...good, sign: new Uint8Array(32) }),
    refusal('KEY_INVALID', 'not a valid Ed25519 point'),
  );
  assert.throws(() => registry.provision({ ...good, model: 'no spaces' }), refusal('USAGE', 'model'));
  assert.throws(() => registry.provision({ ...good, owner: '' }), refusal('USAGE', 'owner'));
  assert.throws(() => registry.provision({ ...good, now: -1 }), refusal('USAGE', 'time'));
  assert.equal(registry.count(), 0);
  registry.close();
});

test('provisions a batch in one transaction: all or none', async () => {
  const { registry } = await freshRegistry();
  const first = newDevice();
  assert.equal(registry.provisionMany([newDevice(), first]).length, 2);
  assert.throws(() => registry.provisionMany([newDevice(), newDevice(), first]), refusal('USAGE', 'already'));
  assert.equal(registry.count(), 2);
  assert.equal(registry.provision(newDevice()).idx, 2);
  registry.close();
});

test('lists devices by model, with or without the revoked ones, a page at a time', async () => {
  const { registry } = await freshRegistry();
  const ids = ['a', 'b', 'a', 'a', 'b'].map((m) => registry.provision(newDevice(`model-${m}`)).id);
  registry.revoke(ids[2] as string, NOW + 1);
  const idxs = (list: { idx: number }[]) => list.map((d) => d.idx);
  assert.deepEqual(idxs(registry.list({ limit: 10 })), [0, 1, 3, 4]);
  assert.deepEqual(idxs(registry.list({ limit: 10, includeRevoked: true })), [0, 1, 2, 3, 4]);
  assert.deepEqual(idxs(registry.list({ model: 'model-a', limit: 10 })), [0, 3]);
  assert.deepEqual(idxs(registry.list({ model: 'model-a', includeRevoked: true, limit: 10 })), [0, 2, 3]);
  assert.deepEqual(idxs(registry.list({ limit: 2, offset: 1, includeRevoked: true })), [1, 2]);
  assert.throws(() => registry.list({ limit: -1 }), refusal('USAGE', 'limit'));
  registry.close();
});

test('revokes a device and keeps the first revocation time; an unknown id is named', async () => {
  const { registry } = await freshRegistry();
  const { id } = registry.provision(newDevice());
  assert.equal(registry.revoke(id, NOW + 5).revokedAt, NOW + 5);
  assert.equal(registry.revoke(id, NOW + 9).revokedAt, NOW + 5);
  assert.equal(registry.get(id)?.revokedAt, NOW + 5);
  const unknown = toHex(sha256(Uint8Array.of(1)));
  assert.throws(() => registry.revoke(unknown, NOW), refusal('USAGE', unknown));
  assert.equal(registry.get(unknown), undefined);
  assert.throws(() => registry.get('not-an-id'), refusal('USAGE', 'not a device id'));
  registry.close();
});

test('walks the eligible devices of a model in idx order, a bounded batch at a time', async () => {
  const { registry } = await freshRegistry();
  const models = ['x', 'x', 'y', 'x', 'x', 'x', 'y', 'x'];
  const ids = registry.provisionMany(models.map((m) => newDevice(m))).map((d) => d.id);
  registry.revoke(ids[3] as string, NOW);
  const batches = [...registry.eligible('x', 2)];
  assert.deepEqual(
    batches.map((batch) => batch.map((d) => d.idx)),
    [[0, 1], [4, 5], [7]],
  );
  const first = batches[0]?.[0];
  assert.equal(first?.id, ids[0]);
  assert.deepEqual(first?.box, registry.get(ids[0] as string)?.box);
  assert.deepEqual([...registry.eligible('z')], []);
  registry.close();
});

test('keeps its devices across a reopen, in WAL mode', async () => {
  const { registry, path } = await freshRegistry();
  const { id } = registry.provision(newDevice());
  registry.revoke(id, NOW + 3);
  registry.provision(newDevice());
  registry.close();
  registry.close(); // closing twice is harmless

  const again = openRegistry(path);
  assert.equal(again.count(), 2);
  assert.equal(again.get(id)?.revokedAt, NOW + 3);
  assert.equal(again.provision(newDevice()).idx, 2);
  again.close();
  const { DatabaseSync } = await import('node:sqlite');
  const raw = new DatabaseSync(path);
  assert.equal(raw.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
  raw.close();
});

test('records the release channel a device follows: stable unless given, listed by channel, a bad name refused', async () => {
  const { registry } = await freshRegistry();
  const plain = registry.provision(newDevice());
  const beta = registry.provision({ ...newDevice(), channel: 'beta' });
  assert.equal(registry.get(plain.id)?.channel, 'stable');
  assert.equal(registry.get(beta.id)?.channel, 'beta');
  assert.deepEqual(
    registry.list({ channel: 'beta', limit: 10 }).map((d) => d.id),
    [beta.id],
  );
  assert.throws(
    () => registry.provision({ ...newDevice(), channel: 'be ta' }),
    refusal('USAGE', 'not a channel name'),
  );
  registry.close();
});

test('a registry written before devices had channels opens with every device on stable, and takes channels after', async () => {
  const path = join(await tempDir(), 'registry.sqlite');
  const { DatabaseSync } = await import('node:sqlite');
  const old = new DatabaseSync(path);
  old.exec(`PRAGMA journal_mode = WAL;
    CREATE TABLE devices (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sign BLOB NOT NULL,
      box BLOB NOT NULL, model TEXT NOT NULL, owner TEXT NOT NULL, revoked_at INTEGER,
      provisioned_at INTEGER NOT NULL);
    CREATE INDEX devices_model ON devices (model);
    PRAGMA user_version = 1;`);
  const device = newDevice();
  const id = toHex(sha256(device.sign));
  old
    .prepare('INSERT INTO devices VALUES (0, ?, ?, ?, ?, ?, NULL, ?)')
    .run(id, device.sign, device.box, device.model, device.owner, NOW);
  old.close();

  const registry = openRegistry(path);
  assert.equal(registry.get(id)?.channel, 'stable');
  assert.equal(registry.provision({ ...newDevice(), channel: 'beta' }).idx, 1);
  registry.close();
  const again = openRegistry(path); // the upgrade ran once
  assert.deepEqual(
    again.list({ limit: 10 }).map((d) => d.channel),
    ['stable', 'beta'],
  );
  again.close();
});

test('opening a registry of this version writes nothing (no fsync per command); one from a newer sihl is refused', async () => {
  const { registry, path } = await freshRegistry();
  registry.close();
  const again = openRegistry(path);
  // A write would have put a frame in the write-ahead log; reading the schema version puts none.
  assert.equal((await stat(`${path}-wal`)).size, 0);
  again.close();
  const { DatabaseSync } = await import('node:sqlite');
  const raw = new DatabaseSync(path);
  const version = Number(raw.prepare('PRAGMA user_version').get()?.user_version);
  raw.exec(`PRAGMA user_version = ${version + 1}`);
  raw.close();
  assert.throws(() => openRegistry(path), refusal('USAGE', `schema version ${version + 1} is newer`));
});
