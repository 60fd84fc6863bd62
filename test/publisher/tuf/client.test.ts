// The published repository as the stock tuf-js client sees it over HTTP: what it accepts and what it refuses.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSihlError } from '../../../src/core/errors.ts';
import { utf8 } from '../../../src/core/format/bytes.ts';
import {
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metadataFilePath,
  metaFileOf,
  publishRepository,
  TIMESTAMP_PATH,
  targetEntryOf,
  targetFilePath,
} from '../../../src/publisher/tuf/index.ts';
import { signWith } from '../../../src/publisher/tuf/signing.ts';
import { tempDir } from '../../helpers.ts';
import {
  client,
  fetchTarget,
  firstRoot,
  plant,
  release,
  roleKeyPairs,
  serve,
  servedRepository,
  signers,
} from './support.ts';

const NAME = 'acme-x1/firmware-1.2.0.sihl';
const IMAGE = utf8.encode('firmware image 1.2.0 for the acme-x1 '.repeat(100));

function publishedRepository(label: string) {
  return servedRepository(label, { name: NAME, bytes: IMAGE });
}

test('the stock tuf-js client verifies the published metadata and downloads the image', async () => {
  const { dir, url, trusted } = await publishedRepository('download');
  assert.deepEqual((await readdir(join(dir, 'metadata'))).sort(), [
    '1.root.json',
    '1.snapshot.json',
    '1.targets.json',
    'timestamp.json',
  ]);
  const { updater } = await client(url, trusted);
  assert.deepEqual(await fetchTarget(updater, NAME), IMAGE);
  const info = await updater.getTargetInfo(NAME);
  assert.equal(info?.length, IMAGE.length);
});

test('targets are served content-addressed, under their SHA-256', async () => {
  const { dir } = await publishedRepository('layout');
  const entry = targetEntryOf(NAME, IMAGE);
  assert.match(
    targetFilePath(NAME, entry.sha256),
    /^targets\/acme-x1\/[0-9a-f]{64}\.firmware-1\.2\.0\.sihl$/,
  );
  assert.deepEqual(new Uint8Array(await readFile(join(dir, targetFilePath(NAME, entry.sha256)))), IMAGE);
});

test('the client refuses targets signed by only one of the two required approvers', async () => {
  const { dir, keys, url, trusted } = await publishedRepository('one approver');
  // An attacker holding one approver key and the online snapshot and timestamp keys writes to the bucket.
  const evil = utf8.encode('evil firmware');
  const targets = signWith(
    makeTargets({ version: 2, targets: [targetEntryOf(NAME, evil)] }),
    signers(keys.approvers.slice(0, 1)),
  );
  const snapshot = signWith(
    makeSnapshot({ version: 2, targets: metaFileOf(targets) }),
    signers(keys.snapshot),
  );
  const timestamp = signWith(
    makeTimestamp({ version: 2, snapshot: metaFileOf(snapshot) }),
    signers(keys.timestamp),
  );
  await writeFile(join(dir, targetFilePath(NAME, targetEntryOf(NAME, evil).sha256)), evil);
  await plant(dir, {
    [metadataFilePath('targets', 2)]: targets,
    [metadataFilePath('snapshot', 2)]: snapshot,
    [TIMESTAMP_PATH]: timestamp,
  });
  const { updater } = await client(url, trusted);
  await assert.rejects(updater.refresh(), /targets was signed by 1\/2 keys/);
});

test('publish itself refuses targets signed by one approver, and leaves the served repository as it was', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('publish one approver');
  const root = firstRoot(keys);
  await publishRepository(
    dir,
    release({ roots: [root], keys, version: 1, files: [{ name: NAME, bytes: IMAGE }] }),
  );
  const before = await readFile(join(dir, TIMESTAMP_PATH));
  const files = [{ name: NAME, bytes: utf8.encode('new') }];
  await assert.rejects(
    publishRepository(
      dir,
      release({ roots: [], keys, version: 2, files, approvers: keys.approvers.slice(1, 2) }),
    ),
    (error) =>
      isSihlError(error, 'SIGNATURE_THRESHOLD') && /targets is signed by 1 of the 2/.test(error.message),
  );
  assert.deepEqual(await readFile(join(dir, TIMESTAMP_PATH)), before);
  assert.equal((await readdir(join(dir, 'metadata'))).includes('2.targets.json'), false);
});

test('the client refuses a target whose bytes were changed on the server', async () => {
  const { dir, url, trusted } = await publishedRepository('tamper');
  const served = join(dir, targetFilePath(NAME, targetEntryOf(NAME, IMAGE).sha256));
  const tampered = IMAGE.slice();
  tampered[100] = (tampered[100] as number) ^ 1;
  await writeFile(served, tampered);
  const { updater, targetDir } = await client(url, trusted);
  await updater.refresh();
  const info = await updater.getTargetInfo(NAME);
  assert.ok(info);
  await assert.rejects(updater.downloadTarget(info), /Expected hash/);
  await writeFile(served, new Uint8Array([...IMAGE, 0]));
  await assert.rejects(updater.downloadTarget(info), /Max length reached/);
  assert.deepEqual(await readdir(targetDir), []);
});

test('the client refuses an expired timestamp', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('expired');
  const twoDaysAgo = () => new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
  const root = firstRoot(keys);
  // Signed two days ago with the default one-day lifetime: the timestamp expired yesterday.
  const stale = release({
    roots: [root],
    keys,
    version: 1,
    files: [{ name: NAME, bytes: IMAGE }],
    now: twoDaysAgo,
  });
  assert.ok(new Date(stale.timestamp.signed.expires) < new Date());
  await publishRepository(dir, stale, { now: twoDaysAgo });
  const { updater } = await client(await serve(dir), await readFile(join(dir, metadataFilePath('root', 1))));
  await assert.rejects(updater.refresh(), /timestamp\.json is expired/);
});

test('publish refuses an expired timestamp at the current time', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('expired publish');
  const twoDaysAgo = () => new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
  const stale = release({
    roots: [firstRoot(keys)],
    keys,
    version: 1,
    files: [{ name: NAME, bytes: IMAGE }],
    now: twoDaysAgo,
  });
  await assert.rejects(
    publishRepository(dir, stale),
    (error) => isSihlError(error, 'TUF_METADATA_EXPIRED') && /timestamp expired/.test(error.message),
  );
});
