// One contract for every LogStore adapter: Azure Table Storage on Azurite and the embedded node:sqlite
// file, each opened from its location as `--log` would open it; then the per-device table SAS.
// Emulator-backed: starts Azurite.
// tag: slow (starts Azurite)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import { REPORT_MAX_BYTES } from '../../src/core/format/report.ts';
import { azureTableClient, azureTableClientWithSas } from '../../src/storage/azure-connect.ts';
import { openAzureTableLogStore } from '../../src/storage/azure-table-log-store.ts';
import {
  devicePolicy,
  issueDeviceLogCredential,
  openDeviceLogStore,
  withdrawDeviceLogCredentials,
} from '../../src/storage/device-log-credential.ts';
import { openLogStore, parseLogLocation } from '../../src/storage/locations.ts';
import type { LogEntry, LogStore } from '../../src/storage/log-store.ts';
import { tempDir } from '../helpers.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../support/azurite.ts';

const azurite = await startAzurite();
const azureEnv = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

function at(seconds: number): Date {
  return new Date(Date.UTC(2026, 10, 1) + seconds * 1000);
}

function report(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function collect(
  items: AsyncIterable<LogEntry>,
): Promise<{ device: string; t: number; text: string }[]> {
  const all = [];
  for await (const entry of items) {
    all.push({
      device: entry.deviceId.slice(0, 1),
      t: (entry.received.getTime() - at(0).getTime()) / 1000,
      text: new TextDecoder().decode(entry.report),
    });
  }
  return all;
}

let tables = 0;
const adapters: { name: string; open(): Promise<LogStore> }[] = [
  {
    name: 'Azure Table Storage (Azurite)',
    open: () => openLogStore(parseLogLocation(`azure://${AZURITE_ACCOUNT}/logs${++tables}`), azureEnv),
  },
  {
    name: 'node:sqlite',
    open: async () => openLogStore(parseLogLocation(join(await tempDir(), 'logs.db'))),
  },
];

for (const adapter of adapters) {
  describe(`LogStore on ${adapter.name}`, () => {
    const open = async () => {
      const store = await adapter.open();
      after(() => store.close());
      return store;
    };

    test("gives back a device's entries with their exact bytes and received time", async () => {
      const store = await open();
      const big = new Uint8Array(REPORT_MAX_BYTES).map((_, i) => i % 251);
      await store.append(A, [
        { received: at(1), report: report('one') },
        { received: at(2), report: big },
      ]);
      const entries: LogEntry[] = [];
      for await (const entry of store.query({ deviceId: A })) entries.push(entry);
      assert.equal(entries.length, 2);
      assert.equal(entries[0]?.deviceId, A);
      assert.deepEqual(entries[0]?.received, at(1));
      assert.deepEqual(entries[0]?.report, report('one'));
      assert.deepEqual(entries[1]?.report, big);
      assert.deepEqual(await collect(store.query({ deviceId: B })), []);
    });

    test('returns entries oldest first, then in arrival order, for one device and for all', async () => {
      const store = await open();
      await store.append(A, [{ received: at(30), report: report('a30') }]);
      await store.append(B, [{ received: at(10), report: report('b10') }]);
      await store.append(A, [
        { received: at(20), report: report('a20-first') },
        { received: at(20), report: report('a20-second') },
      ]);
      await store.append(C, [{ received: at(20), report: report('c20-later') }]);
      await store.append(A, [{ received: at(20), report: report('a20-third') }]);
      assert.deepEqual(
        (await collect(store.query({ deviceId: A }))).map((e) => e.text),
        ['a20-first', 'a20-second', 'a20-third', 'a30'],
      );
      assert.deepEqual(
        (await collect(store.query())).map((e) => e.text),
        ['b10', 'a20-first', 'a20-second', 'c20-later', 'a20-third', 'a30'],
      );
    });

    test('selects by time (since inclusive, until exclusive) and limits the count', async () => {
      const store = await open();
      for (const t of [5, 10, 15, 20]) await store.append(A, [{ received: at(t), report: report(`a${t}`) }]);
      await store.append(B, [{ received: at(10), report: report('b10') }]);
      const texts = async (query: Parameters<LogStore['query']>[0]) =>
        (await collect(store.query(query))).map((e) => e.text);
      assert.deepEqual(await texts({ deviceId: A, since: at(10), until: at(20) }), ['a10', 'a15']);
      assert.deepEqual(await texts({ since: at(10), until: at(15) }), ['a10', 'b10']);
      assert.deepEqual(await texts({ deviceId: A, limit: 2 }), ['a5', 'a10']);
      assert.deepEqual(await texts({ limit: 3 }), ['a5', 'a10', 'b10']);
      assert.deepEqual(await texts({ since: at(21) }), []);
    });

    test('appends all entries or none', async () => {
      const store = await open();
      await assert.rejects(
        store.append(A, [
          { received: at(1), report: report('fine') },
          { received: new Date(Number.NaN), report: report('bad time') },
        ]),
        (e) => isSihlError(e),
      );
      await assert.rejects(store.append('not-a-device', [{ received: at(1), report: report('x') }]), (e) =>
        isSihlError(e, 'USAGE'),
      );
      assert.deepEqual(await collect(store.query()), []);
    });
  });
}

describe("a device's own table SAS", () => {
  const table = 'devicelogs';
  const location = { account: AZURITE_ACCOUNT, table };
  /** As the publisher issues: the table's current policy set to run a day from `now`, the SAS bound to it. */
  const issue = async (deviceId: string, now = new Date()) => {
    const expiresOn = new Date(now.getTime() + 24 * 3600 * 1000);
    const policy = await devicePolicy(azureTableClient(AZURITE_ACCOUNT, table, azureEnv), expiresOn, now);
    return issueDeviceLogCredential({
      policy,
      account: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      endpoint: azurite.tableEndpoint,
      table,
      deviceId,
      expiresOn,
      now: () => now,
    });
  };
  const operator = async () => {
    const store = await openLogStore(parseLogLocation(`azure://${AZURITE_ACCOUNT}/${table}`), azureEnv);
    after(() => store.close());
    return store;
  };

  test('is bound to the stored access policy (add only, with an expiry) and limited to one partition', async () => {
    await operator(); // makes the table
    const { sas } = await issue(A);
    const fields = new URLSearchParams(sas);
    assert.equal(fields.get('spk'), A);
    assert.equal(fields.get('epk'), A);
    assert.equal(fields.get('tn'), table);
    const policies = [...(await azureTableClient(AZURITE_ACCOUNT, table, azureEnv).getAccessPolicy())];
    const bound = policies.find((p) => p.id === fields.get('si'));
    assert.equal(bound?.accessPolicy?.permission, 'a');
    assert.ok(bound?.accessPolicy?.expiry);
  });

  test("stops writing once a device is revoked: revocation withdraws the policy every device's SAS is bound to", async () => {
    await operator();
    const [D, E] = ['d'.repeat(64), 'e'.repeat(64)];
    const revoked = openDeviceLogStore(await issue(D));
    await revoked.append(D, [{ received: at(1), report: report('before') }]);
    const { withdrawn, current } = await withdrawDeviceLogCredentials(location, azureEnv);
    assert.notEqual(withdrawn, current);
    await assert.rejects(revoked.append(D, [{ received: at(2), report: report('after') }]), (e) =>
      isSihlError(e, 'STORE_DENIED'),
    );
    // The devices still in the fleet write again with the SAS of the next publication.
    const renewed = await issue(E);
    assert.equal(new URLSearchParams(renewed.sas).get('si'), current);
    const kept = openDeviceLogStore(renewed);
    await kept.append(E, [{ received: at(3), report: report('renewed') }]);
  });

  test('lets the device append to its own partition, and nothing more', async () => {
    const admin = await operator();
    const device = openDeviceLogStore(await issue(A));
    await device.append(A, [{ received: at(1), report: report('installed') }]);
    await device.append(A, [{ received: at(2), report: report('booted') }]);
    assert.deepEqual(
      (await collect(admin.query({ deviceId: A }))).map((e) => e.text),
      ['installed', 'booted'],
    );
    // Only add permission: reading the table is refused.
    await assert.rejects(collect(device.query({ deviceId: A })), (e) => isSihlError(e, 'STORE_DENIED'));
    // One entry per append: a batch would need more rights than add.
    await assert.rejects(
      device.append(A, [
        { received: at(3), report: report('x') },
        { received: at(4), report: report('y') },
      ]),
      (e) => isSihlError(e, 'USAGE'),
    );
    // The device's store will not even try another partition.
    await assert.rejects(device.append(B, [{ received: at(3), report: report('forged') }]), (e) =>
      isSihlError(e, 'USAGE'),
    );
  });

  test('stops working once expired', async () => {
    const expired = await issue(A, new Date(Date.now() - 3 * 24 * 3600 * 1000));
    const device = openDeviceLogStore(expired);
    await assert.rejects(device.append(A, [{ received: at(1), report: report('late') }]), (e) =>
      isSihlError(e, 'STORE_DENIED'),
    );
  });

  test("is not held to its partition by Azurite, so readers must verify each entry's signature", async (t) => {
    const admin = await operator();
    const { sas } = await issue(A);
    const raw = openAzureTableLogStore(azureTableClientWithSas(azurite.tableEndpoint, table, sas));
    // Real Azure answers 403 (AuthorizationFailure) here; the emulator accepts the write.
    const accepted = await raw.append(C, [{ received: at(5), report: report('planted') }]).then(
      () => true,
      () => false,
    );
    t.diagnostic(`Azurite ${accepted ? 'accepted' : 'refused'} a write outside the SAS's partition`);
    if (accepted) assert.equal((await collect(admin.query({ deviceId: C }))).length, 1);
  });
});
