// The article's set-up end to end on Azurite over HTTPS: the vendor publishes to Blob Storage, three
// simulated devices poll the container directly with a read-only SAS, install the update and write their
// signed status entries to Table Storage with their own SAS; `sihl fleet status --log azure://…` shows
// them, and flags an entry filed under another device's partition. Emulator-backed: starts Azurite.
// tag: slow (starts Azurite)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withdrawDeviceLogCredentials } from '../../src/storage/device-log-credential.ts';
import { openBlobStore, parseStoreLocation } from '../../src/storage/locations.ts';
import { AZURITE_ACCOUNT } from '../support/azurite.ts';
import {
  type CloudFleet,
  configureDevice,
  logTable,
  makeCloudFleet,
  provisionAzure,
  readOnlySas,
  run,
  startEmulators,
  WS,
} from './cloud-support.ts';

const { certificate, azurite, env } = await startEmulators();

/** `sihl fleet status` of the fleet reading the device logs in the Azure table devicelogs. */
function fleetStatus(fleet: CloudFleet) {
  return run(fleet, ['fleet', 'status', '--log', `azure://${AZURITE_ACCOUNT}/devicelogs`, ...WS]);
}

test('devices install a release published to Blob Storage and report to Table Storage; forged entries are flagged', async () => {
  await provisionAzure(azurite, { container: 'firmware', table: 'devicelogs' });
  const fleet = await makeCloudFleet({
    env,
    store: `azure://${AZURITE_ACCOUNT}/firmware/acme`,
    log: `azure://${AZURITE_ACCOUNT}/devicelogs`,
  });

  // A revocation (of a device outside this fleet) withdraws the policy the provisioning SAS are bound to:
  // from here on they are refused, and only the SAS the release brings lets a device report.
  const { withdrawn, current } = await withdrawDeviceLogCredentials(
    { account: AZURITE_ACCOUNT, table: 'devicelogs' },
    env,
  );
  const published = await run(fleet, ['release', 'publish', 'movehub-7.28.0', ...WS]);
  assert.equal(published.store.location, `azure://${AZURITE_ACCOUNT}/firmware/acme`);
  assert.ok(published.store.uploaded >= 6, JSON.stringify(published.store));
  assert.equal(published.credentials.sealed, 3);
  // Anonymous readers get nothing: the container is private, devices read with their SAS.
  const anonymous = await fetch(`${azurite.blobEndpoint}/firmware/acme/metadata/timestamp.json`);
  assert.ok(anonymous.status === 403 || anonymous.status === 404, `anonymous read: HTTP ${anonymous.status}`);

  await writeFile(join(fleet.cwd, 'store.pem'), certificate.cert);
  const server = `${azurite.blobEndpoint}/firmware/acme/?${readOnlySas('firmware')}`;
  for (const device of fleet.devices) {
    await configureDevice(fleet, device, server, `${azurite.tableEndpoint}/devicelogs`);
    const ran = await run(fleet, ['sim', 'device', 'run', device.dir, '--once']);
    assert.deepEqual(ran.installed, ['movehub/movehub-7.28.0.sihl'], JSON.stringify(ran));
    assert.equal(ran.running, '7.28.0');
    // The release brought the device a fresh SAS, sealed to it; its later reports went with that one.
    const state = JSON.parse(await readFile(join(fleet.cwd, device.dir, 'agent', 'state.json'), 'utf8'));
    const config = JSON.parse(await readFile(join(fleet.cwd, device.dir, 'agent.json'), 'utf8'));
    assert.match(state.logSas, new RegExp(`spk=${device.id}`));
    assert.equal(new URLSearchParams(config.log.sas).get('si'), withdrawn);
    assert.equal(new URLSearchParams(state.logSas).get('si'), current);
  }

  const status = await fleetStatus(fleet);
  assert.deepEqual(
    status.devices.map((d: { running: string; lastOutcome: string }) => [d.running, d.lastOutcome]),
    [
      ['7.28.0', 'installed'],
      ['7.28.0', 'installed'],
      ['7.28.0', 'installed'],
    ],
  );
  assert.equal(status.releases[0].running, 3);
  assert.deepEqual(status.flagged, []);

  // Device 1 files one of its own signed reports under device 2's partition (Azurite does not enforce
  // the SAS's partition range; Azure does): fleet status flags it and does not count it.
  const [first, second] = fleet.devices as [(typeof fleet.devices)[0], (typeof fleet.devices)[0]];
  const table = logTable(azurite, 'devicelogs');
  const own = table.listEntities<{ rowKey: string; report: string }>({
    queryOptions: { filter: `PartitionKey eq '${first.id}'` },
  });
  const entries = [];
  for await (const entity of own) entries.push(entity);
  assert.ok(entries.length >= 2, 'each device wrote its boot and install reports');
  const forged = entries.at(-1) as { rowKey: string; report: string };
  await table.createEntity({
    partitionKey: second.id,
    rowKey: `${forged.rowKey.slice(0, 28)}-ffffffff`,
    report: forged.report,
  });
  const after = await fleetStatus(fleet);
  assert.equal(after.flagged.length, 1);
  assert.equal(after.flagged[0].deviceId, second.id);
  assert.match(after.flagged[0].problem, /not signed by this device/);
  assert.equal(after.devices[1].reports, status.devices[1].reports, 'the forged entry is not counted');
  assert.equal(after.releases[0].running, 3);
});

test('an interrupted upload of a large image leaves no object that a device could see', async () => {
  await provisionAzure(azurite, { container: 'interrupted' });
  const store = await openBlobStore(parseStoreLocation(`azure://${AZURITE_ACCOUNT}/interrupted`), env);
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  async function* dies() {
    for (let n = 0; n < 12; n++) yield chunk; // 12 MiB: past the single-request size, in blocks
    throw new Error('the publisher lost power');
  }
  await assert.rejects(store.put('targets/movehub/big.sihl', dies()), /lost power/);
  assert.equal(await store.head('targets/movehub/big.sihl'), null);
  const sas = readOnlySas('interrupted');
  const seen = await fetch(`${azurite.blobEndpoint}/interrupted/targets/movehub/big.sihl?${sas}`);
  assert.equal(seen.status, 404);
  await store.close();
});
