// The same flow on an S3-compatible server (s3rver) over HTTPS: the vendor publishes to a bucket, three
// simulated devices poll it directly (anonymous read, as a public-read bucket policy or a CDN gives) and
// install the update. S3 has no table service, so the devices write their status entries to Azure Table
// Storage (Azurite) with their own SAS, and `sihl fleet status --log azure://…` shows them.
// Emulator-backed: runs s3rver in-process and starts Azurite.
// tag: slow (starts s3rver and Azurite)
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openBlobStore, parseStoreLocation } from '../../src/storage/locations.ts';
import { AZURITE_ACCOUNT } from '../support/azurite.ts';
import { configureDevice, makeCloudFleet, provisionAzure, run, startEmulators, WS } from './cloud-support.ts';

const { certificate, s3, azurite, env } = await startEmulators(['firmware', 'interrupted']);

test('devices install a release published to an S3 bucket and report to Table Storage', async () => {
  await provisionAzure(azurite, { table: 'devicelogs' });
  const fleet = await makeCloudFleet({
    env,
    store: 's3://firmware/acme',
    log: `azure://${AZURITE_ACCOUNT}/devicelogs`,
  });

  const published = await run(fleet, ['release', 'publish', 'movehub-7.28.0', ...WS]);
  assert.equal(published.store.location, 's3://firmware/acme');
  // Publishing again changes nothing in the bucket: the timestamp is refreshed, nothing else re-uploaded.
  // The timestamp job runs from the online folder: it mirrors to the same bucket from the same staging copy.
  await run(fleet, ['online', 'create', 'online', ...WS]);
  const refreshed = await run(fleet, ['timestamp', 'refresh', '--workspace', 'online']);
  assert.equal(refreshed.store.uploaded, 1);
  assert.ok(refreshed.store.unchanged >= 6);

  await writeFile(join(fleet.cwd, 'store.pem'), certificate.cert);
  for (const device of fleet.devices) {
    const logTable = `${azurite.tableEndpoint}/devicelogs`;
    await configureDevice(fleet, device, `${s3.endpoint}/firmware/acme/`, logTable);
    const ran = await run(fleet, ['sim', 'device', 'run', device.dir, '--once']);
    assert.deepEqual(ran.installed, ['movehub/movehub-7.28.0.sihl'], JSON.stringify(ran));
  }

  const status = await run(fleet, ['fleet', 'status', ...WS]);
  assert.deepEqual(
    status.devices.map((d: { running: string }) => d.running),
    ['7.28.0', '7.28.0', '7.28.0'],
  );
  assert.equal(status.releases[0].running, 3);
  assert.deepEqual(status.flagged, []);
});

test('an interrupted multipart upload of a large image leaves no object in the bucket', async () => {
  const store = await openBlobStore(parseStoreLocation('s3://interrupted'), s3.env);
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  async function* dies() {
    for (let n = 0; n < 20; n++) yield chunk; // 20 MiB: two 8 MiB parts sent, then the source fails
    throw new Error('the publisher lost power');
  }
  await assert.rejects(store.put('targets/movehub/big.sihl', dies()), /lost power/);
  assert.equal(await store.head('targets/movehub/big.sihl'), null);
  const seen = await fetch(`${s3.endpoint}/interrupted/targets/movehub/big.sihl`);
  assert.equal(seen.status, 404);
  await store.close();
});
