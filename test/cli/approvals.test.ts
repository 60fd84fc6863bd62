// Two people, two machines (issue 14): alice and bob keep their keys in folders of their own that the
// release manager never sees; each approves the release's request in a `sihl` process of their own, with
// their own passphrase and no workspace; the release manager adds the approval files, publishes, and a
// device installs the release. The workspace never holds an approver's private key.
// tag: slow (a workspace, a device and a server made for real; approvers run as processes)
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.ts';
import {
  approveAway,
  installOnce,
  publishWithoutApproverKeys,
  refusedRun,
  requestApprovals,
} from '../support/approvals.ts';
import { approverHome, ok, releaseCreate, sihlProcess } from '../support/cli.ts';
import { WS, world } from '../support/world.ts';

const json = async (cwd: string, args: string[]) => JSON.parse(await ok(cwd, [...args, '--json']));

test('alice and bob approve from folders of their own, each in their own process, and a device installs the release', async () => {
  const fleet = await world().withApproversAway().withDevicesRunning('7.27.0', 1).build();
  const { cwd } = fleet;
  const release = 'movehub-7.28.0';
  assert.deepEqual(
    (await readdir(join(cwd, 'acme', 'keys'))).filter((f) => /^(alice|bob)\./.test(f)).sort(),
    ['alice.pub', 'bob.pub'],
    'the workspace holds only the approvers’ public keys',
  );
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  const request = await requestApprovals(cwd, release, WS);
  const image = join('acme', 'releases', release, 'image.sihl');

  const alice = await approveAway(cwd, 'alice', request, {
    handed: [image],
    more: ['--image', 'image.sihl', '--note', 'reviewed in design review 41'],
  });
  assert.equal(alice.code, 0, alice.err);
  assert.match(alice.out, /movehub 7\.28\.0, security version 1, payload sha256 [0-9a-f]{64}/);
  assert.match(alice.out, /the image checked against the request/);
  const bob = await approveAway(cwd, 'bob', request, { more: ['--json'] });
  assert.equal(bob.code, 0, bob.err);
  const signed = JSON.parse(bob.out);
  assert.deepEqual([signed.model, signed.version, signed.securityVersion], ['movehub', '7.28.0', 1]);

  const added = await json(cwd, [
    ...['release', 'add-approval', release, '--approval', alice.file, '--approval', bob.file],
    ...WS,
  ]);
  assert.deepEqual([added.signatures, added.threshold], [2, 2]);
  const shown = await json(cwd, ['release', 'show', release, ...WS]);
  assert.deepEqual(
    shown.approvals.map((a: { approver: string; note: string; via: string }) => [a.approver, a.note, a.via]),
    [
      ['alice', 'reviewed in design review 41', 'approval-file'],
      ['bob', '', 'approval-file'],
    ],
  );
  assert.equal(shown.unrecorded.length, 0);
  assert.equal(shown.approvals[1].keyId, signed.keyId, "bob's key id as his own process reported it");

  const published = await publishWithoutApproverKeys(cwd, release, WS, {
    alice: 'alice.key',
    bob: 'bob.key',
  });
  assert.equal(published.code, 0, published.err + published.out);
  for (const name of ['alice', 'bob']) {
    const keys = await readdir(join(cwd, 'acme', 'keys'));
    assert.ok(!keys.includes(`${name}.key`), `no private key of ${name} is left in the workspace`);
  }

  const device = fleet.devices[0] as { dir: string; idx: number };
  const run = await installOnce(cwd, fleet.store, device);
  assert.equal(run.running, '7.28.0', JSON.stringify(run));
  assert.deepEqual(run.installed, [JSON.parse(published.out).target]);
});

test('an approver signs with no workspace and one key per process: a second --key is refused, nothing written', async () => {
  const fleet = await world().withApproversAway().build();
  const { cwd } = fleet;
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  const request = await requestApprovals(cwd, 'movehub-7.28.0', WS);
  const twice = await approveAway(cwd, 'alice', request, { more: ['--key', 'alice.key'] });
  refusedRun(twice, 'USAGE', /--key was given more than once: one approver key per process/);
  const home = join(cwd, approverHome('alice'));
  assert.ok(!(await readdir(home)).some((f) => f.endsWith('.approval.json')), 'no approval file');

  // A folder with nothing of sihl's but a key and the request: no sihl.json, no SIHL_WORKSPACE.
  const empty = await tempDir();
  await writeFile(join(empty, 'request.json'), await readFile(join(cwd, request)));
  await writeFile(join(empty, 'alice.key'), await readFile(join(home, 'alice.key')), { mode: 0o600 });
  const alone = await sihlProcess(
    empty,
    ['release', 'approve', '--request', 'request.json', '--key', 'alice.key'],
    {
      SIHL_PASSPHRASE_ALICE: "alice's own passphrase",
    },
  );
  assert.equal(alone.code, 0, alone.err);
  assert.ok((await readdir(empty)).includes('movehub-7.28.0.alice.approval.json'));
  const wrong = await sihlProcess(
    empty,
    ['release', 'approve', '--request', 'request.json', '--key', 'alice.key', '--force'],
    {
      SIHL_PASSPHRASE: "the release manager's passphrase",
    },
  );
  refusedRun(wrong, 'PASSPHRASE_WRONG', /alice\.key/);
});
