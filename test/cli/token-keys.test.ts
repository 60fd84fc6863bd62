// Root and approver keys on a PKCS#11 token (SoftHSM2), through the CLI as a user would: the token keys
// sign delegations and images exactly like key files, a device installs an image approved by one token
// key and one key file, and refuses one that only the token key signed; an approver away from the
// workspace approves a request with the key on their token.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyIdOf } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { decodePublicKeyFile, decodeRootFile } from '../../src/core/keys.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware, tempDir } from '../helpers.ts';
import {
  approveAway,
  installOnce,
  publishWithoutApproverKeys,
  requestApprovals,
} from '../support/approvals.ts';
import {
  addApprover,
  approverHome,
  delegationCreate,
  ok,
  ROOT_KEY,
  releaseCreate,
  sihl,
  simDeviceCreate,
} from '../support/cli.ts';
import { softHsmMissing, softHsmToken } from '../support/softhsm.ts';
import { WS, world } from '../support/world.ts';

const skip = softHsmMissing();
const json = async (cwd: string, args: string[]) => JSON.parse(await ok(cwd, [...args, '--json']));

async function keyIdIn(path: string): Promise<string> {
  const info = decodePublicKeyFile(new Uint8Array(await readFile(path)));
  return toHex(keyIdOf(info.sign as Uint8Array));
}

test('a device installs an image approved by a token key and a key file, under a root on the token', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const dir = await tempDir();
  await writeFile(join(dir, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await writeFile(join(dir, 'new.bin'), await pybricksFirmware(PYBRICKS, 'movehub'));
  await ok(dir, ['keys', 'generate', '--name', 'root', '--token', token.ref('root')]);
  await ok(dir, ['keys', 'generate', '--name', 'alice', '--token', token.ref('alice')]);
  await ok(dir, ['keys', 'generate', '--name', 'bob']);
  await assert.rejects(stat(join(dir, 'alice.key')), 'no private key file for a token key');
  await ok(dir, ['root', 'create', '--key', 'root.pub', '-o', 'root.json']);
  await ok(dir, delegationCreate(token.ref('root')));
  await ok(dir, [...simDeviceCreate('hub'), '--version', '7.27.0']);
  // One approver key per process: the first signs at pack time, each other in a run of its own.
  const pack = async (out: string, [first, ...others]: string[]) => {
    await ok(dir, [
      'image',
      'pack',
      'new.bin',
      '--model',
      'movehub',
      '--version',
      '7.28.0',
      '--delegation',
      'approvers.dlg',
      '--no-encrypt',
      '--level',
      '5',
      '-o',
      out,
      '--key',
      first as string,
    ]);
    for (const key of others) await ok(dir, ['image', 'sign', out, '--key', key]);
  };

  // One approver alone, even on a token, cannot ship.
  await pack('alone.sihl', [token.ref('alice')]);
  await ok(dir, ['sim', 'device', 'stage', 'hub', 'alone.sihl']);
  const refused = await json(dir, ['sim', 'device', 'boot', 'hub']);
  assert.equal(refused.installed, false);
  assert.equal(refused.version, '7.27.0');

  await pack('new.sihl', [token.ref('alice'), 'bob.key']);
  const verified = await json(dir, [
    'image',
    'verify',
    'new.sihl',
    '--root',
    'root.json',
    '--model',
    'movehub',
  ]);
  assert.deepEqual(
    [...verified.approvers].sort(),
    [await keyIdIn(join(dir, 'alice.pub')), await keyIdIn(join(dir, 'bob.pub'))].sort(),
    'the token key signs under the key id of its public key file',
  );
  await ok(dir, ['sim', 'device', 'stage', 'hub', 'new.sihl']);
  const booted = await json(dir, ['sim', 'device', 'boot', 'hub', '--confirm']);
  assert.deepEqual([booted.outcome, booted.version, booted.installed], ['booted', '7.28.0', true]);
});

test('init keeps the root key on the token and an approver is added with a key on the token', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const dir = await tempDir();
  await ok(dir, ['init', 'acme', '--root-key', token.ref('acme-root')]);
  await assert.rejects(stat(join(dir, 'acme/keys/root-1.key')), 'no root key file in the workspace');
  await assert.rejects(
    stat(join(dir, 'acme/keys/root-1.pkcs11')),
    'nor a way to it: root keys are handed over',
  );
  const root = decodeRootFile(new Uint8Array(await readFile(join(dir, 'acme/trust/root.json'))));
  assert.equal(toHex(keyIdOf(root.keys[0] as Uint8Array)), await keyIdIn(join(dir, 'acme/keys/root-1.pub')));

  const ws = ['--workspace', 'acme'];
  await ok(dir, [...addApprover('alice'), '--token', token.ref('alice'), ...ws]);
  const add = [...addApprover('bob'), ...ws];
  const without = await sihl(dir, add);
  assert.match(without.err, /must be signed by 1 of the current root keys .*0 given: pass --root-key/);
  const added = await json(dir, [...add, '--root-key', token.ref('acme-root')]);
  assert.equal(added.delegationVersion, 1, 'the root key on the token signed the approvers');
  const listing = await json(dir, ['keys', 'list', ...ws]);
  const targets = listing.roles.find((r: { role: string }) => r.role === 'targets');
  assert.deepEqual(
    targets.keys.map((k: { name: string; private: boolean }) => [k.name, k.private]),
    [
      ['alice', true],
      ['bob', true],
    ],
  );
});

test('keys rotate --token puts the new root key on the token: nothing of it in the workspace, and it signs the next root operation', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const dir = await tempDir();
  const ws = ['--workspace', 'acme'];
  await ok(dir, ['init', 'acme', '--root-key', token.ref('acme-root')]);
  const rotated = await json(dir, [
    ...['keys', 'rotate', '--role', 'root', '--token', token.ref('acme-root-2')],
    ...['--root-key', token.ref('acme-root'), ...ws],
  ]);
  assert.equal(rotated.change, 'rotate');
  assert.equal(rotated.rootVersion, 2);
  assert.notEqual(rotated.keyId, rotated.retiredKeyId);
  assert.equal(
    rotated.keyId,
    await keyIdIn(join(dir, 'acme/keys/root-1.pub')),
    'the token key is root-1 now',
  );
  const root = decodeRootFile(new Uint8Array(await readFile(join(dir, 'acme/trust/root.json'))));
  assert.deepEqual([root.version, toHex(keyIdOf(root.keys[0] as Uint8Array))], [2, rotated.keyId]);
  for (const file of ['root-1.key', 'root-1.pkcs11'])
    await assert.rejects(stat(join(dir, 'acme/keys', file)), `no ${file}: root keys are handed over`);
  // The retired root key no longer signs; the new one, named by its token reference, does.
  const add = [...addApprover('alice'), ...ws];
  const old = await sihl(dir, [...add, '--root-key', token.ref('acme-root')]);
  assert.notEqual(old.code, 0, old.out);
  assert.match(old.err, /not a root key of this workspace/);
  const added = await json(dir, [...add, '--root-key', token.ref('acme-root-2')]);
  assert.equal(added.name, 'alice');
});

test('a token reference with a PIN inside is refused before the token is touched', { skip }, async () => {
  const token = await softHsmToken();
  const dir = await tempDir();
  const withPin = `${token.ref('alice')}&pin-value=${token.pin}`;
  const r = await sihl(dir, ['keys', 'generate', '--name', 'alice', '--token', withPin]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /pin-value is refused/);
  assert.doesNotMatch(r.err, new RegExp(token.pin));
});

test('an approver whose key is on a token approves a request with --key pkcs11:…, and the release installs', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const fleet = await world()
    .withApprovers(['alice'], 2)
    .withApproversAway()
    .withDevicesRunning('7.27.0', 1)
    .build();
  const { cwd } = fleet;
  // carol makes her key on her token, in her own folder; the workspace gets only carol.pub.
  const home = join(cwd, approverHome('carol'));
  await mkdir(home);
  await ok(home, ['keys', 'generate', '--name', 'carol', '--token', token.ref('carol')]);
  await ok(cwd, [...addApprover('carol'), '--public', 'carol-home/carol.pub', ...ROOT_KEY, ...WS]);
  const release = 'movehub-7.28.0';
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  const request = await requestApprovals(cwd, release, WS);
  const alice = await approveAway(cwd, 'alice', request);
  assert.equal(alice.code, 0, alice.err);
  const softhsm = { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF as string };
  const carol = await approveAway(cwd, 'carol', request, { key: token.ref('carol'), env: softhsm });
  assert.equal(carol.code, 0, carol.err);
  assert.match(carol.out, /movehub 7\.28\.0, security version 1/);
  assert.equal(
    JSON.parse(await readFile(join(cwd, carol.file), 'utf8')).keyId,
    await keyIdIn(join(home, 'carol.pub')),
  );

  const added = await json(cwd, [
    'release',
    'add-approval',
    release,
    '--approval',
    alice.file,
    '--approval',
    carol.file,
    ...WS,
  ]);
  assert.deepEqual(
    added.added.map((a: { approver: string }) => a.approver),
    ['alice', 'carol'],
  );
  const published = await publishWithoutApproverKeys(
    cwd,
    release,
    WS,
    { alice: 'alice.key', carol: token.ref('carol') },
    softhsm,
  );
  assert.equal(published.code, 0, published.err + published.out);
  const device = fleet.devices[0] as { dir: string; idx: number };
  const run = await installOnce(cwd, fleet.store, device);
  assert.equal(run.running, '7.28.0', JSON.stringify(run));
});
