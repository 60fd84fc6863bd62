// What the release manager refuses when adding approval files, and what an approver refuses to sign:
// an approval for another release, by a key that is not an approver, the same approver twice, a request
// or approval changed on its way, an approval made before the approvers changed, an image that is not
// the one the request names. A refused file leaves the release as it was.
// tag: slow (workspaces made for real; approvers run as processes)
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { approveAway, refusedRun, requestApprovals } from '../support/approvals.ts';
import { addApproverAway, approverEnv, approverHome, ok, releaseCreate, sihl } from '../support/cli.ts';
import { WS, world } from '../support/world.ts';

const R = 'movehub-7.28.0';

/** A workspace whose approvers keep their keys away, release 7.28.0 created and a request for it made. */
async function requested() {
  const { cwd } = await world().withApproversAway().build();
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  return { cwd, request: await requestApprovals(cwd, R, WS) };
}

/** The release's image and release.json, to show a refusal changed neither. */
async function snapshot(cwd: string) {
  const dir = join(cwd, 'acme', 'releases', R);
  return [await readFile(join(dir, 'image.sihl')), await readFile(join(dir, 'release.json'), 'utf8')];
}

const add = (cwd: string, ...files: string[]) =>
  sihl(cwd, ['release', 'add-approval', R, ...files.flatMap((f) => ['--approval', f]), ...WS]);

async function approved(cwd: string, name: string, request: string): Promise<string> {
  const run = await approveAway(cwd, name, request);
  assert.equal(run.code, 0, run.err);
  return run.file;
}

test('an approval for another release, or by a key that is not an approver, is refused and changes nothing', async () => {
  const { cwd, request } = await requested();
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.29.0', '1'), ...WS]);
  const other = await requestApprovals(cwd, 'movehub-7.29.0', WS);
  const before = await snapshot(cwd);
  refusedRun(
    await add(cwd, await approved(cwd, 'alice', other)),
    'APPROVAL_MISMATCH',
    /this approval is for movehub-7\.29\.0, not for movehub-7\.28\.0/,
  );

  const home = join(cwd, approverHome('mallory'));
  await mkdir(home);
  await sihl(home, ['keys', 'generate', '--name', 'mallory'], approverEnv('mallory'));
  refusedRun(
    await add(cwd, await approved(cwd, 'mallory', request)),
    'SIGNATURE_UNKNOWN_KEY',
    /not an approver of this workspace/,
  );
  assert.deepEqual(await snapshot(cwd), before, 'the release is unchanged');
});

test('the same approver twice is refused, in one call or two', async () => {
  const { cwd, request } = await requested();
  refusedRun(
    await sihl(cwd, [
      'keys',
      'add',
      '--role',
      'targets',
      '--name',
      'alice2',
      '--public',
      'alice-home/alice.pub',
      ...WS,
    ]),
    'USAGE',
    /alice\.pub: this is the key of alice \(role targets\) already/,
  );
  const alice = await approved(cwd, 'alice', request);
  const before = await snapshot(cwd);
  refusedRun(
    await add(cwd, alice, alice),
    'SIGNATURE_DUPLICATE_KEY',
    /alice has already approved movehub-7\.28\.0/,
  );
  assert.deepEqual(await snapshot(cwd), before, 'nothing added when one file of the call is refused');
  await ok(cwd, ['release', 'add-approval', R, '--approval', alice, ...WS]);
  refusedRun(await add(cwd, alice), 'SIGNATURE_DUPLICATE_KEY', /alice has already approved/);
  // Another approval by alice (a second run of hers) is the same approver, too.
  refusedRun(await add(cwd, await approved(cwd, 'alice', request)), 'SIGNATURE_DUPLICATE_KEY', /alice/);
  const shown = JSON.parse(await ok(cwd, ['release', 'show', R, '--json', ...WS]));
  assert.deepEqual(
    shown.approvals.map((a: { approver: string }) => a.approver),
    ['alice'],
  );
});

test('a request changed on its way is refused by the approver, or by the release manager', async () => {
  const { cwd, request } = await requested();
  const original = JSON.parse(await readFile(join(cwd, request), 'utf8'));
  // The summary a person reads says another version than the manifest being signed: the approver refuses.
  await writeFile(
    join(cwd, 'lying.request.json'),
    JSON.stringify({ ...original, firmwareVersion: '7.28.1' }),
  );
  refusedRun(
    await approveAway(cwd, 'alice', 'lying.request.json'),
    'APPROVAL_MALFORMED',
    /says firmwareVersion 7\.28\.1, but the manifest it asks to sign says 7\.28\.0/,
  );
  // A request the approver cannot tell apart (another image digest named): the release manager never made it.
  const zeros = '0'.repeat(64);
  await writeFile(join(cwd, 'swapped.request.json'), JSON.stringify({ ...original, imageSha256: zeros }));
  refusedRun(
    await add(cwd, await approved(cwd, 'alice', 'swapped.request.json')),
    'APPROVAL_MISMATCH',
    /answers request [0-9a-f]{16}…, which movehub-7\.28\.0 never made/,
  );
  // An approval whose note was changed after alice signed it.
  const file = await approved(cwd, 'alice', request);
  const approval = JSON.parse(await readFile(join(cwd, file), 'utf8'));
  await writeFile(join(cwd, 'noted.json'), JSON.stringify({ ...approval, note: 'alice also approved 8.0' }));
  refusedRun(
    await add(cwd, 'noted.json'),
    'SIGNATURE_INVALID',
    /note of alice's approval changed after it was signed/,
  );
});

test('an approval made before the approvers changed, and an image other than the request names, are refused', async () => {
  const { cwd, request } = await requested();
  const alice = await approved(cwd, 'alice', request);
  await addApproverAway(cwd, 'carol', WS); // a new delegation version: the release must be made again
  refusedRun(await add(cwd, alice), 'APPROVAL_MISMATCH', /the approvers changed since the request was made/);
  refusedRun(
    await sihl(cwd, ['release', 'request', R, '--out', 'again.json', ...WS]),
    'APPROVAL_MISMATCH',
    /carries delegation version 1; the approvers changed since \(version 2\): create the release again/,
  );

  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.29.0', '1'), ...WS]);
  const image = join('acme', 'releases', 'movehub-7.29.0', 'image.sihl');
  const reviewed = await approveAway(cwd, 'bob', request, {
    handed: [image],
    more: ['--image', 'image.sihl'],
  });
  refusedRun(
    reviewed,
    'APPROVAL_MISMATCH',
    /image\.sihl: the image is movehub 7\.29\.0 with another manifest/,
  );
});

test('an approver whose key is in the workspace approves there, and release show and check list who, when and why', async () => {
  const { cwd } = await world().withDevicesRunning('7.27.0', 1).build();
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  await ok(cwd, ['release', 'approve', R, '--key', 'alice', '--note', 'bench test 7 passed', ...WS]);
  refusedRun(
    await sihl(cwd, ['release', 'approve', R, '--key', 'bob', '--key', 'alice', ...WS]),
    'USAGE',
    /one approver per process/,
  );
  await ok(cwd, ['release', 'approve', R, '--key', 'bob', ...WS]);
  const shown = JSON.parse(await ok(cwd, ['release', 'show', R, '--json', ...WS]));
  assert.deepEqual(
    shown.approvals.map((a: { approver: string; note: string; via: string }) => [a.approver, a.note, a.via]),
    [
      ['alice', 'bench test 7 passed', 'workspace-key'],
      ['bob', '', 'workspace-key'],
    ],
  );
  assert.match(
    await ok(cwd, ['release', 'show', R, ...WS]),
    /2 of 2 approvals\n {2}alice \(key [0-9a-f]{16}…\) approved at \S+ with a workspace key: "bench test 7 passed"/,
  );
  const checked = JSON.parse(await ok(cwd, ['release', 'check', R, '--json', ...WS]));
  assert.deepEqual(
    checked.approvals.map((a: { approver: string }) => a.approver),
    ['alice', 'bob'],
  );
});

test('release show counts approvers whose signature the image carries: records forged into release.json count for nothing', async () => {
  const { cwd, request } = await requested();
  await ok(cwd, ['release', 'add-approval', R, '--approval', await approved(cwd, 'alice', request), ...WS]);
  const path = join(cwd, 'acme', 'releases', R, 'release.json');
  const info = JSON.parse(await readFile(path, 'utf8'));
  const [alice] = info.approvals;
  // One approver with the workspace: alice's record again, and one naming bob over alice's key.
  info.approvals.push({ ...alice }, { ...alice, approver: 'bob', note: 'reviewed in #42' });
  await writeFile(path, JSON.stringify(info, null, 2));
  const shown = await ok(cwd, ['release', 'show', R, ...WS]);
  assert.match(shown, /^1 of 2 approvals$/m, shown);
  assert.doesNotMatch(shown, /bob/, shown);
  const json = JSON.parse(await ok(cwd, ['release', 'show', R, '--json', ...WS]));
  assert.deepEqual(
    json.approvals.map((a: { approver: string }) => a.approver),
    ['alice'],
  );
  const check = await sihl(cwd, ['release', 'check', R, ...WS]);
  assert.doesNotMatch(check.out, /bob/, check.out);
});

test('an approver written into sihl.json by hand, outside the delegation root signed, is refused by add-approval and not counted by release show', async () => {
  const { cwd, request } = await requested();
  await ok(cwd, ['release', 'add-approval', R, '--approval', await approved(cwd, 'alice', request), ...WS]);
  // One approver with the workspace makes a key of their own and names it an approver, without root.
  const home = join(cwd, approverHome('mallory'));
  await mkdir(home);
  await sihl(home, ['keys', 'generate', '--name', 'mallory'], approverEnv('mallory'));
  await copyFile(join(home, 'mallory.pub'), join(cwd, 'acme', 'keys', 'mallory.pub'));
  const config = join(cwd, 'acme', 'sihl.json');
  const parsed = JSON.parse(await readFile(config, 'utf8'));
  parsed.roles.targets.keys.push('mallory');
  await writeFile(config, JSON.stringify(parsed, null, 2));
  const before = await snapshot(cwd);
  refusedRun(
    await add(cwd, await approved(cwd, 'mallory', request)),
    'SIGNATURE_UNKNOWN_KEY',
    /not in the delegation the image carries/,
  );
  assert.deepEqual(await snapshot(cwd), before, 'the release is unchanged');
  const shown = await ok(cwd, ['release', 'show', R, ...WS]);
  assert.match(shown, /^1 of 2 approvals$/m, shown);
});
