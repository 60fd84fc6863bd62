// Key rotation through the CLI: an approver's key is replaced and the stolen old one can no longer
// ship to devices that installed an image carrying the new delegation; a root key is replaced and a
// device that pinned the old root walks the image's root chain, installs, and pins the new root; the
// stock tuf-js client that trusts only root version 1 follows the published root rotation.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyIdOf, type SigningKeyPair } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { encodeHeader } from '../../src/core/format/header.ts';
import { encodeSignatureBlock } from '../../src/core/format/signatures.ts';
import {
  bufferSource,
  imageMessage,
  packImage,
  readImage,
  signaturesFor,
} from '../../src/core/image/index.ts';
import { openSigningKey } from '../../src/core/keys.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { signDelegation } from '../../src/publisher/role-keys.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ok, PASSPHRASE, ROOT_DIR, ROOT_KEY, sihl } from '../support/cli.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { envelopeInStore } from '../support/tables.ts';
import { client, fetchTarget, serve } from './tuf/support.ts';

const MODEL = 'technichub';
const ws = ['--workspace', 'acme'];

async function keyPair(path: string): Promise<SigningKeyPair> {
  return openSigningKey(new Uint8Array(await readFile(path)), PASSPHRASE);
}

/** A workspace with approvers alice and bob, and devices running 7.27.0 that pinned trust/root.json. */
async function setUp(devices: string[]) {
  const cwd = await tempDir();
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, MODEL));
  const firmware = await pybricksFirmware(PYBRICKS, MODEL);
  await writeFile(join(cwd, 'new.bin'), firmware);
  await ok(cwd, [...INIT]);
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ROOT_KEY, ...ws]);
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, ...ws]);
  const idx = new Map<string, number>();
  for (const dir of devices) idx.set(dir, await addDevice(cwd, dir));
  return { cwd, firmware, idx };
}

async function addDevice(cwd: string, dir: string): Promise<number> {
  await ok(cwd, [
    ...['sim', 'device', 'create', dir, '--model', MODEL, '--root', 'acme/trust/root.json'],
    ...['--firmware', 'old.bin', '--version', '7.27.0'],
  ]);
  await writeFile(join(cwd, `${dir}.json`), await ok(cwd, ['sim', 'device', 'identity', dir, '--json']));
  const provisioned = await ok(cwd, [
    'device',
    'provision',
    '--identity',
    `${dir}.json`,
    '--owner',
    'ACME',
    '--json',
    ...ws,
  ]);
  return JSON.parse(provisioned).idx;
}

/** Creates, approves (alice and bob) and publishes release `version` of new.bin. */
async function release(cwd: string, version: string, security = 1) {
  await ok(cwd, [
    ...['release', 'create', 'new.bin', '--model', MODEL, '--version', version],
    ...['--security-version', String(security), ...ws],
  ]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', `${MODEL}-${version}`, '--key', key, ...ws]);
  return JSON.parse(await ok(cwd, ['release', 'publish', `${MODEL}-${version}`, '--json', ...ws]));
}

/** What a device's agent would stage: the image and its own envelope, from the store. */
async function install(
  cwd: string,
  dir: string,
  idx: number,
  published: { target: string; envelopes: { folder: string } },
) {
  const store = join(cwd, 'acme', 'store');
  const name = published.target.split('/').at(-1) as string;
  const image = new Uint8Array(
    await readFile(join(cwd, 'acme', 'releases', name.replace(/\.sihl$/, ''), 'image.sihl')),
  );
  const device = await SimulatedDevice.load(join(cwd, dir));
  const envelope = await envelopeInStore(store, published.target, device.secureElement.identity().box);
  if (!envelope) throw new Error(`no envelope for device ${idx}`);
  device.stage(image, envelope);
  const report = await device.boot();
  if (report.trial) device.confirm(); // the new firmware's self-test passes
  await device.save(join(cwd, dir));
  return { report, device };
}

/**
 * An attacker's signed-only image, signed by whatever keys they hold (sihl's packer refuses keys the
 * delegation does not name, so the signature block is put together by hand), staged and booted.
 */
async function attack(
  cwd: string,
  dir: string,
  delegation: Uint8Array,
  signers: SigningKeyPair[],
  version: string,
) {
  const path = join(cwd, `forged-${version}.sihl`);
  await packImage(join(cwd, 'new.bin'), path, {
    model: MODEL,
    version,
    securityVersion: 9,
    delegation,
    encrypt: false,
  });
  const bytes = new Uint8Array(await readFile(path));
  const image = await readImage(bufferSource(bytes));
  const block = encodeSignatureBlock(signaturesFor(imageMessage(image.manifestBytes), signers));
  const forged = Buffer.concat([
    encodeHeader({ ...image.header, signatureBlockLength: block.length }),
    image.manifestBytes,
    image.delegationBytes,
    block,
    image.rootChainBytes,
    bytes.subarray(image.payloadOffset),
  ]);
  const device = await SimulatedDevice.load(join(cwd, dir));
  device.stage(forged);
  return device.boot();
}

test('after keys rotate --role targets, the old approver key can no longer ship to devices that saw the new delegation', async () => {
  const { cwd, idx } = await setUp(['hub']);
  const keys = join(cwd, 'acme', 'keys');
  // The attacker's haul: alice's old key, and the delegation that named it.
  await copyFile(join(keys, 'alice.key'), join(cwd, 'stolen-alice.key'));
  const oldDelegation = new Uint8Array(await readFile(join(cwd, 'acme', 'trust', 'delegation.bin')));
  const first = await release(cwd, '7.28.0');
  assert.equal((await install(cwd, 'hub', idx.get('hub') as number, first)).report.running.version, '7.28.0');

  const before = JSON.parse(await ok(cwd, ['keys', 'list', '--json', ...ws]));
  const rotated = JSON.parse(
    await ok(cwd, ['keys', 'rotate', '--role', 'targets', '--name', 'alice', ...ROOT_KEY, '--json', ...ws]),
  );
  assert.equal(rotated.delegationVersion, 2);
  assert.equal(
    rotated.publishedRootVersion,
    null,
    'approvers sign images, not TUF metadata: no new TUF root',
  );
  const after = JSON.parse(await ok(cwd, ['keys', 'list', '--json', ...ws]));
  const aliceId = (listing: { roles: { role: string; keys: { name: string; keyId: string }[] }[] }) =>
    listing.roles.find((r) => r.role === 'targets')?.keys.find((k) => k.name === 'alice')?.keyId;
  assert.notEqual(aliceId(after), aliceId(before));
  assert.equal(rotated.retiredKeyId, aliceId(before));
  await assert.rejects(stat(join(keys, 'retired', 'alice.key')), 'no private key is kept');
  await stat(join(keys, 'retired', `alice.${rotated.retiredKeyId.slice(0, 16)}.pub`));

  // The new key and bob ship 7.28.1; the device installs it and so learns delegation version 2.
  const second = await release(cwd, '7.28.1', 2);
  const installed = await install(cwd, 'hub', idx.get('hub') as number, second);
  assert.equal(installed.report.running.version, '7.28.1');
  assert.equal(installed.device.secureElement.trust().delegationVersion, 2);

  // Even with bob colluding, the old alice key ships nothing: under the old delegation it is a
  // rollback, under the new one it is an unknown key.
  const stolen = await keyPair(join(cwd, 'stolen-alice.key'));
  const bob = await keyPair(join(keys, 'bob.key'));
  const old = await attack(cwd, 'hub', oldDelegation, [stolen, bob], '9.0.0');
  assert.deepEqual(
    [old.outcome, old.reason, old.running.version],
    ['rejected', 'DELEGATION_ROLLBACK', '7.28.1'],
  );
  const current = new Uint8Array(await readFile(join(cwd, 'acme', 'trust', 'delegation.bin')));
  const mixed = await attack(cwd, 'hub', current, [stolen, bob], '9.0.1');
  assert.deepEqual([mixed.outcome, mixed.reason], ['rejected', 'SIGNATURE_UNKNOWN_KEY']);

  // The stock TUF client that trusts root version 1 still reaches the new targets.
  const store = join(cwd, 'acme', 'store');
  const { updater } = await client(
    await serve(store),
    new Uint8Array(await readFile(join(store, 'metadata', '1.root.json'))),
  );
  assert.ok((await fetchTarget(updater, second.target)).length > 0);

  // Removing an approver may not leave fewer than the approvals a release needs.
  const tooFew = await sihl(cwd, [
    'keys',
    'remove',
    '--role',
    'targets',
    '--name',
    'bob',
    ...ROOT_KEY,
    ...ws,
  ]);
  assert.equal(tooFew.code, 2);
  assert.match(tooFew.err, /would leave 1 approver\(s\) and releases need 2/);
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'carol', ...ROOT_KEY, ...ws]);
  const removed = JSON.parse(
    await ok(cwd, ['keys', 'remove', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, '--json', ...ws]),
  );
  assert.deepEqual([removed.delegationVersion, removed.publishedRootVersion], [4, null]);
  const bobGone = await sihl(cwd, ['release', 'approve', `${MODEL}-7.28.1`, '--key', 'bob', ...ws]);
  assert.notEqual(bobGone.code, 0, 'a removed approver cannot approve');
});

test('after root rotation, a device that pinned the old root still verifies the chain, and then pins the new root', async () => {
  const { cwd, idx } = await setUp(['hub-old']);
  await release(cwd, '7.28.0');
  const oldRoot = await keyPair(join(cwd, ROOT_DIR, 'root-1.key'));
  const early = await ok(cwd, [
    ...[
      'release',
      'create',
      'new.bin',
      '--model',
      MODEL,
      '--version',
      '7.28.5',
      '--security-version',
      '1',
      ...ws,
    ],
  ]);
  assert.ok(early);

  // The old root key and the new one (made on new offline media) both sign the rotation.
  const rotate = ['keys', 'rotate', '--role', 'root', ...ROOT_KEY, '--json', ...ws];
  const nowhere = await sihl(cwd, rotate);
  assert.match(nowhere.out, /the new root-1 is written outside the workspace: pass --root-dir/);
  const rotated = JSON.parse(await ok(cwd, [...rotate, '--root-dir', 'offline-2']));
  assert.deepEqual([rotated.rootVersion, rotated.delegationVersion, rotated.publishedRootVersion], [2, 2, 2]);
  const newRoot = await keyPair(join(cwd, 'offline-2', 'root-1.key'));
  const published1 = JSON.parse(await readFile(join(cwd, 'acme', 'keys', 'root-1.pub'), 'utf8'));
  assert.equal(published1.keyId, toHex(keyIdOf(newRoot.publicKey)), 'the workspace keeps the public half');
  await assert.rejects(stat(join(cwd, 'acme', 'keys', 'root-1.key')), 'no root private key in the workspace');
  const trust = JSON.parse(await readFile(join(cwd, 'acme', 'trust', 'root.json'), 'utf8'));
  assert.equal(trust.rootVersion, 2);
  // A device made after the rotation pins root version 2 directly.
  idx.set('hub-new', await addDevice(cwd, 'hub-new'));

  // A release made before the rotation carries no chain to the new root: the gate says so.
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', `${MODEL}-7.28.5`, '--key', key, ...ws]);
  const stale = await sihl(cwd, ['release', 'check', `${MODEL}-7.28.5`, ...ws]);
  assert.equal(stale.code, 1);
  assert.match(stale.err + stale.out, /root chain/);

  const published = await release(cwd, '7.28.1', 2);
  for (const dir of ['hub-old', 'hub-new']) {
    const { report, device } = await install(cwd, dir, idx.get(dir) as number, published);
    assert.deepEqual([report.outcome, report.running.version], ['booted', '7.28.1'], dir);
    assert.equal(device.secureElement.trust().rootVersion, 2, `${dir} pins root version 2`);
  }

  // The retired root key can no longer sign a delegation that a device accepts.
  const alice = await keyPair(join(cwd, 'acme', 'keys', 'alice.key'));
  const bob = await keyPair(join(cwd, 'acme', 'keys', 'bob.key'));
  const forged = signDelegation({ version: 3, threshold: 2 }, [alice.publicKey, bob.publicKey], [oldRoot]);
  const refused = await attack(cwd, 'hub-old', forged, [alice, bob], '9.0.0');
  assert.deepEqual(
    [refused.outcome, refused.reason, refused.running.version],
    ['rejected', 'SIGNATURE_UNKNOWN_KEY', '7.28.1'],
  );

  // The stock TUF client trusting root version 1 walks to version 2 and downloads the new release.
  const store = join(cwd, 'acme', 'store');
  const { updater } = await client(
    await serve(store),
    new Uint8Array(await readFile(join(store, 'metadata', '1.root.json'))),
  );
  assert.ok((await fetchTarget(updater, published.target)).length > 0);
});

test('a workspace made before the rollout role is refused, saying how to add it; after those steps it publishes and the stock client walks to the new TUF root', async () => {
  const { cwd } = await setUp(['hub']);
  await release(cwd, '7.28.0');
  // The shape of such a workspace: no rollout role or key, no trust/tuf (its TUF roots are in the store).
  const configPath = join(cwd, 'acme', 'sihl.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  delete config.roles.rollout;
  await writeFile(configPath, JSON.stringify(config));
  for (const file of ['keys/rollout.key', 'keys/rollout.pub', 'trust/tuf'])
    await rm(join(cwd, 'acme', file), { recursive: true });
  const refused = await sihl(cwd, ['release', 'publish', `${MODEL}-7.28.0`, ...ws]);
  assert.equal(refused.code, 2);
  assert.match(refused.err, /roles\.rollout is missing/);

  // The steps the message names.
  const steps =
    /put (.*) in "roles", run `sihl (keys generate [^`]*)` in the workspace, then `sihl (keys rotate [^`]*)`/.exec(
      refused.err,
    );
  assert.ok(steps, refused.err);
  Object.assign(config.roles, JSON.parse(`{${steps[1]}}`));
  await writeFile(configPath, JSON.stringify(config));
  await ok(join(cwd, 'acme'), (steps[2] as string).split(' '));
  const rotate = (steps[3] as string)
    .split(' ')
    .map((w) => (w === 'ROOT.key' ? `${ROOT_DIR}/root-1.key` : w));
  const rotated = JSON.parse(await ok(cwd, [...rotate, '--json', ...ws]));
  assert.equal(rotated.publishedRootVersion, 2);
  await stat(join(cwd, 'acme', 'trust', 'tuf', '2.root.json'));

  const published = await release(cwd, '7.28.1');
  const store = join(cwd, 'acme', 'store');
  const { updater } = await client(
    await serve(store),
    new Uint8Array(await readFile(join(store, 'metadata', '1.root.json'))),
  );
  assert.ok((await fetchTarget(updater, published.target)).length > 0);
});
