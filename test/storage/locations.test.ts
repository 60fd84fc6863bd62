// Store and log locations as given by --store, --log or sihl.json, and the credentials they are opened with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import {
  formatLocation,
  openBlobStore,
  openLogStore,
  parseLogLocation,
  parseStoreLocation,
} from '../../src/storage/locations.ts';

const SECRET = 'c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs=';

test('parses azure://, s3:// and local paths into typed locations', () => {
  assert.deepEqual(parseStoreLocation('azure://fleetstore/releases'), {
    kind: 'azure',
    account: 'fleetstore',
    container: 'releases',
    prefix: '',
  });
  assert.deepEqual(parseStoreLocation('azure://fleetstore/releases/hub/v2/'), {
    kind: 'azure',
    account: 'fleetstore',
    container: 'releases',
    prefix: 'hub/v2',
  });
  assert.deepEqual(parseStoreLocation('s3://my.bucket-1'), { kind: 's3', bucket: 'my.bucket-1', prefix: '' });
  assert.deepEqual(parseStoreLocation('s3://fleet/repo/main'), {
    kind: 's3',
    bucket: 'fleet',
    prefix: 'repo/main',
  });
  assert.deepEqual(parseStoreLocation('repo', '/srv/w'), { kind: 'local', path: '/srv/w/repo' });
  assert.deepEqual(parseStoreLocation('/srv/repo'), { kind: 'local', path: '/srv/repo' });
  assert.deepEqual(parseStoreLocation('file:///srv/repo'), { kind: 'local', path: '/srv/repo' });
  assert.deepEqual(parseLogLocation('azure://fleetstore/deviceLogs'), {
    kind: 'azure',
    account: 'fleetstore',
    table: 'deviceLogs',
  });
  assert.deepEqual(parseLogLocation('logs.db', '/w'), { kind: 'local', path: '/w/logs.db' });
});

test('writes a location back as the text it came from', () => {
  for (const text of ['azure://fleetstore/releases/hub', 's3://fleet/repo', 's3://fleet', '/srv/repo']) {
    assert.equal(formatLocation(parseStoreLocation(text)), text);
  }
  assert.equal(formatLocation(parseLogLocation('azure://fleetstore/logs')), 'azure://fleetstore/logs');
});

test('refuses locations that name no valid account, container, bucket or prefix, or carry credentials', () => {
  for (const text of [
    'azure://Fleet/releases',
    'azure://fleetstore',
    'azure://fleetstore/Releases',
    'azure://fleetstore/re--leases',
    `azure://fleetstore/releases?sig=${SECRET}`,
    's3://user:pass@bucket/x',
    's3://Bucket',
    's3://bucket/../up',
    's3://bucket/a//b',
    'gs://bucket',
    '',
  ]) {
    assert.throws(
      () => parseStoreLocation(text),
      (e) => isSihlError(e, 'USAGE'),
      text,
    );
  }
  assert.throws(
    () => parseLogLocation('s3://bucket/logs'),
    (e) => isSihlError(e, 'USAGE'),
  );
  assert.throws(
    () => parseLogLocation('azure://fleetstore/device-logs'),
    (e) => isSihlError(e, 'USAGE'),
  );
});

test('names the missing credential without guessing one', async () => {
  const location = parseStoreLocation('azure://fleetstore/releases');
  await assert.rejects(openBlobStore(location, {}), (e) => {
    assert.ok(isSihlError(e, 'STORE_CREDENTIALS_MISSING'));
    assert.match(e.message, /AZURE_STORAGE_CONNECTION_STRING/);
    return true;
  });
  await assert.rejects(openLogStore(parseLogLocation('azure://fleetstore/logs'), {}), (e) =>
    isSihlError(e, 'STORE_CREDENTIALS_MISSING'),
  );
});

test('never puts a secret into an error message', async () => {
  const location = parseStoreLocation('azure://fleetstore/releases');
  const other = `DefaultEndpointsProtocol=https;AccountName=otheraccount;AccountKey=${SECRET}`;
  const cases: Record<string, string>[] = [
    { AZURE_STORAGE_CONNECTION_STRING: other },
    { AZURE_STORAGE_KEY: SECRET, SIHL_AZURE_BLOB_ENDPOINT: 'http://storage.example/fleetstore' },
    { AZURE_STORAGE_KEY: SECRET, SIHL_AZURE_BLOB_ENDPOINT: `https://storage.example/?sig=${SECRET}` },
  ];
  for (const env of cases) {
    await assert.rejects(openBlobStore(location, env), (e) => {
      assert.ok(isSihlError(e, 'USAGE'));
      assert.ok(!e.message.includes(SECRET), e.message);
      return true;
    });
  }
  const s3 = parseStoreLocation('s3://fleet');
  await assert.rejects(openBlobStore(s3, { SIHL_S3_ENDPOINT: 'http://s3.example' }), (e) =>
    isSihlError(e, 'USAGE'),
  );
});

test('opens a store once a credential is there, without a request', async () => {
  const azure = await openBlobStore(parseStoreLocation('azure://fleetstore/releases'), {
    AZURE_STORAGE_KEY: SECRET,
  });
  await azure.close();
  const s3 = await openBlobStore(parseStoreLocation('s3://fleet/repo'), {
    AWS_ACCESS_KEY_ID: 'id',
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_REGION: 'eu-central-1',
  });
  await s3.close();
});
