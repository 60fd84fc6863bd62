// The vendor's flow through the CLI as far as it goes today: init, two approvers, three devices
// provisioned from their secure elements' identities (one then revoked), a release made, approved
// twice and passed by the policy gate, and installed by the devices' own bootloaders.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.ts';
import { INIT, ok, provisionSimDevice, ROOT_KEY, releaseCreate, sihl } from '../support/cli.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pem, pybricksFirmware } from '../support/fixtures.ts';

test('init, approvers, provisioning, a release approved twice and checked, installed by the devices', async () => {
  const cwd = await tempDir();
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await writeFile(join(cwd, 'new.bin'), await pybricksFirmware(PYBRICKS, 'movehub'));
  await ok(cwd, [...INIT]);
  const ws = ['--workspace', 'acme'];
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ROOT_KEY, ...ws]);
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, ...ws]);

  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    const provisioned = await provisionSimDevice(cwd, `hub-${n}`, 'ACME Toys');
    assert.equal(provisioned.idx, n - 1);
    ids.push(provisioned.id);
  }
  await ok(cwd, ['device', 'revoke', ids[2] as string, ...ws]);
  const listed = JSON.parse(await ok(cwd, ['device', 'list', '--json', ...ws]));
  assert.equal(listed.devices.length, 2, 'revoked devices are not listed by default');
  const again = await sihl(cwd, ['device', 'provision', '--identity', 'hub-1.json', '--owner', 'x', ...ws]);
  assert.equal(again.code, 2, 'a device is registered once');
  // The release channel its agent follows: stable unless given, in the listing and its JSON.
  assert.deepEqual(
    listed.devices.map((d: { channel: string }) => d.channel),
    ['stable', 'stable'],
  );
  await ok(cwd, [
    'sim',
    'device',
    'create',
    'hub-4',
    '--model',
    'movehub',
    '--root',
    'acme/trust/root.json',
    '--firmware',
    'old.bin',
    '--version',
    '7.27.0',
  ]);
  await writeFile(join(cwd, 'hub-4.json'), await ok(cwd, ['sim', 'device', 'identity', 'hub-4', '--json']));
  const provision = ['device', 'provision', '--identity', 'hub-4.json', '--owner', 'ACME Toys'];
  const beta = JSON.parse(await ok(cwd, [...provision, '--channel', 'beta', '--json', ...ws]));
  assert.equal(beta.channel, 'beta');
  assert.match(await ok(cwd, ['device', 'list', '--channel', 'beta', ...ws]), /movehub\s+beta\s+ACME Toys/);

  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...ws]);
  await ok(cwd, ['release', 'approve', 'movehub-7.28.0', '--key', 'alice', ...ws]);
  const early = await sihl(cwd, ['release', 'check', 'movehub-7.28.0', ...ws]);
  assert.equal(early.code, 1, 'one approval only: the gate refuses');
  assert.match(early.err, /signatures: .*1 .*2/s);
  await ok(cwd, ['release', 'approve', 'movehub-7.28.0', '--key', 'bob', ...ws]);
  const checked = await ok(cwd, ['release', 'check', 'movehub-7.28.0', ...ws]);
  assert.match(checked, /passes 7 rule\(s\):.*device-decodes.*image-verifies/);
  assert.match(checked, /not checked: fits-slot: no slot size is known for model "movehub"/);

  // Until publishing exists, each valid device's envelope is sealed and staged by hand.
  const release = join('acme', 'releases', 'movehub-7.28.0');
  for (const n of [1, 2]) {
    await ok(cwd, ['sim', 'device', 'identity', `hub-${n}`, '-o', `hub-${n}.pub`]);
    await ok(cwd, [
      'envelope',
      'seal',
      '--content-key',
      join(release, 'content.key'),
      '--device',
      `hub-${n}.pub`,
      '--image',
      join(release, 'image.sihl'),
      '-o',
      `hub-${n}.env`,
    ]);
    await ok(cwd, [
      'sim',
      'device',
      'stage',
      `hub-${n}`,
      join(release, 'image.sihl'),
      '--envelope',
      `hub-${n}.env`,
    ]);
    const boot = JSON.parse(await ok(cwd, ['sim', 'device', 'boot', `hub-${n}`, '--json']));
    assert.equal(boot.outcome, 'booted');
    assert.equal(boot.version, '7.28.0');
  }
  const stolen = await sihl(cwd, [
    'sim',
    'device',
    'stage',
    'hub-3',
    join(release, 'image.sihl'),
    '--envelope',
    'hub-1.env',
  ]);
  assert.equal(stolen.code, 0);
  const refused = JSON.parse(await ok(cwd, ['sim', 'device', 'boot', 'hub-3', '--json']));
  assert.equal(refused.outcome, 'rejected', "another device's envelope opens nothing");
  assert.equal(refused.reason, 'ENVELOPE_WRONG_RECIPIENT');
});

test('the gate lists every failure at once: an unregistered model and firmware with a private key and a cloud key', async () => {
  const cwd = await tempDir();
  const firmware = new Uint8Array(await pybricksFirmware(PYBRICKS, 'movehub'));
  const leak = new TextEncoder().encode(
    `${pem('PRIVATE KEY', 'MC4CAQAwBQYDK2VwBCIEIBZ0Yk9Lq1vWk3cJ5p1p0ZkQXs1qzv9b0m7uR8hN2wQe')}aws_access_key_id=AKIAIOSFODNN7EXAMPLE\n`,
  );
  firmware.set(leak, 50_000);
  await writeFile(join(cwd, 'leaky.bin'), firmware);
  await ok(cwd, [...INIT, '--approvals', '1']);
  await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ROOT_KEY, '--workspace', 'acme']);
  await ok(cwd, [
    'release',
    'create',
    'leaky.bin',
    '--model',
    'movehub',
    '--version',
    '1.0.0',
    '--workspace',
    'acme',
  ]);
  await ok(cwd, ['release', 'approve', 'movehub-1.0.0', '--key', 'alice', '--workspace', 'acme']);
  const r = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', '--workspace', 'acme']);
  assert.equal(r.code, 1);
  assert.match(r.err, /POLICY_FAILED/);
  assert.match(r.err, /model-registered/);
  assert.match(r.err, /no-secrets: .*pem-private-key/s);
  assert.match(r.err, /aws-access-key-id/);
  assert.doesNotMatch(r.err, /AKIAIOSFODNN7EXAMPLE/, 'the secret itself is not printed');
  const info = await readFile(join(cwd, 'acme', 'releases', 'movehub-1.0.0', 'release.json'), 'utf8');
  assert.doesNotMatch(info, /AKIAIOSFODNN7EXAMPLE|MC4CAQAw/, 'nor written into the release');
});
