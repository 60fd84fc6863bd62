// Key rotation as TUF defines it (spec §5.3): each new root is signed by a threshold of the old root's
// keys and of its own, and a client that pinned version 1 walks every version to the newest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSihlError } from '../../../src/core/errors.ts';
import { utf8 } from '../../../src/core/format/bytes.ts';
import {
  makeRoot,
  metadataFilePath,
  publishRepository,
  rotateRoot,
  signWith,
  TIMESTAMP_PATH,
} from '../../../src/publisher/tuf/index.ts';
import { testKey } from '../../helpers.ts';
import {
  client,
  fetchTarget,
  plant,
  type RoleKeyPairs,
  release,
  rolesOf,
  servedRepository,
  signers,
  trustedRootVersion,
} from './support.ts';

const NAME = 'acme-x1/firmware.sihl';
const image = (version: number) => utf8.encode(`firmware ${version} `.repeat(50));

/** Version 1, then version 2 with three new approvers (two of them sign); the root key stays. */
async function rotatedApprovers(label: string) {
  const {
    dir,
    keys,
    root: root1,
    url,
    trusted,
  } = await servedRepository(label, { name: NAME, bytes: image(1) });
  const device = await client(url, trusted);
  assert.deepEqual(await fetchTarget(device.updater, NAME), image(1));

  const keys2: RoleKeyPairs = {
    ...keys,
    approvers: ['d', 'e', 'f'].map((n) => testKey(`${label} new approver ${n}`)),
  };
  const root2 = rotateRoot(root1, rolesOf(keys2), signers(keys.root), signers(keys2.root));
  await publishRepository(
    dir,
    release({ roots: [root2], keys: keys2, version: 2, files: [{ name: NAME, bytes: image(2) }] }),
  );
  return { dir, url, trusted, device, keys, keys2, root2 };
}

test('a client that trusted root version 1 follows a rotation of the approver keys and downloads', async () => {
  const { url, trusted, device } = await rotatedApprovers('approvers');
  const nextPoll = await client(url, device);
  assert.deepEqual(await fetchTarget(nextPoll.updater, NAME), image(2));
  assert.equal(await trustedRootVersion(nextPoll.metadataDir), 2);
  const fresh = await client(url, trusted);
  assert.deepEqual(await fetchTarget(fresh.updater, NAME), image(2));
});

test('after the rotation, targets signed by the old approvers are refused by the client and by publish', async () => {
  const { dir, url, trusted, keys } = await rotatedApprovers('old approvers');
  const files = [{ name: NAME, bytes: image(3) }];
  const byOld = release({ roots: [], keys, version: 3, files, approvers: keys.approvers.slice(0, 2) });
  await assert.rejects(publishRepository(dir, byOld), (error) => isSihlError(error, 'SIGNATURE_THRESHOLD'));
  await plant(dir, {
    [metadataFilePath('targets', 3)]: byOld.targets,
    [metadataFilePath('snapshot', 3)]: byOld.snapshot,
    [TIMESTAMP_PATH]: byOld.timestamp,
  });
  const { updater } = await client(url, trusted);
  await assert.rejects(updater.refresh(), /targets was signed by 0\/2 keys/);
});

test('rotating the root key itself: a client that pinned root version 1 still verifies the chain', async () => {
  const { dir, url, trusted, device, keys2, root2 } = await rotatedApprovers('root key');
  const keys3: RoleKeyPairs = { ...keys2, root: [testKey('root key new root')] };
  const root3 = rotateRoot(root2, rolesOf(keys3), signers(keys2.root), signers(keys3.root));
  assert.equal(Object.keys(root3.signatures).length, 2);
  await publishRepository(
    dir,
    release({ roots: [root3], keys: keys3, version: 3, files: [{ name: NAME, bytes: image(3) }] }),
  );

  const fresh = await client(url, trusted);
  assert.deepEqual(await fetchTarget(fresh.updater, NAME), image(3));
  assert.equal(await trustedRootVersion(fresh.metadataDir), 3);
  const nextPoll = await client(url, device);
  assert.deepEqual(await fetchTarget(nextPoll.updater, NAME), image(3));
});

test('a root signed only by the new root key is refused by the client, and rotateRoot will not make one', async () => {
  const { dir, url, trusted, keys2, root2 } = await rotatedApprovers('new key only');
  const keys3: RoleKeyPairs = { ...keys2, root: [testKey('new key only attacker root')] };
  assert.throws(
    () => rotateRoot(root2, rolesOf(keys3), [], signers(keys3.root)),
    (error) =>
      isSihlError(error, 'SIGNATURE_THRESHOLD') &&
      /0 of the 1 root keys of root version 2/.test(error.message),
  );
  const forged = signWith(makeRoot({ version: 3, roles: rolesOf(keys3) }), signers(keys3.root));
  await plant(dir, { [metadataFilePath('root', 3)]: forged });
  const { updater } = await client(url, trusted);
  await assert.rejects(updater.refresh(), /root was signed by 0\/1 keys/);
});
