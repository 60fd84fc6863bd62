// The vendor's own checks in the gate: a command named in sihl.json runs on the unpacked firmware with
// the release's facts, its exit code decides, its output stays with the release, and a hung check is
// killed with everything it started.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ok, sihl } from '../support/cli.ts';
import { approvedRelease, editConfig, storeFiles, WS } from './gate-support.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A shell script as a check, written into the workspace. */
async function script(cwd: string, name: string, body: string): Promise<string[]> {
  await writeFile(join(cwd, 'acme', name), `set -eu\n${body}\n`);
  return ['sh', name];
}

/** Whether a process runs (a zombie waiting for its reaper does not), given a moment to be reaped. */
async function alive(pid: number): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || / Z /.test(stat)) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

test('a check that passes sees the firmware and the release facts, and its output is kept and shown', async () => {
  const { cwd, firmware, release } = await approvedRelease();
  const command = await script(
    cwd,
    'sbom.sh',
    'echo "model=$SIHL_MODEL version=$SIHL_VERSION channel=$SIHL_CHANNEL"\n' +
      'sha256sum "$SIHL_FIRMWARE"\necho "passphrase=$(printenv SIHL_PASSPHRASE || echo none)"',
  );
  await editConfig(cwd, { checks: [{ name: 'sbom', command }] });
  process.env.SIHL_PASSPHRASE = 'must not reach a check';
  let out: string;
  try {
    out = await ok(cwd, ['release', 'check', 'movehub-1.0.0', '--channel', 'beta', ...WS]);
  } finally {
    delete process.env.SIHL_PASSPHRASE;
  }
  assert.match(out, /passes \d rule\(s\):.*vendor-checks/);
  assert.match(out, new RegExp(`check sbom: exit code 0, output in ${join(release, 'checks', 'sbom.log')}`));
  const log = await readFile(join(release, 'checks', 'sbom.log'), 'utf8');
  assert.match(log, /model=movehub version=1\.0\.0 channel=beta/);
  assert.match(log, new RegExp(sha256(firmware)), 'the check read the unpacked firmware, byte for byte');
  assert.match(log, /passphrase=none/, "the workspace's passphrase is not passed on");
});

test('a check that exits non-zero fails the gate and publish; its output is kept', async () => {
  const { cwd, release } = await approvedRelease();
  const command = await script(cwd, 'lint.sh', 'echo "3 findings of severity high" >&2\nexit 3');
  await editConfig(cwd, { checks: [{ name: 'lint', command }] });
  const r = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /vendor-checks: check "lint" failed \(exit code 3; output in checks\/lint\.log\): 3 findings of severity high/,
  );
  assert.match(await readFile(join(release, 'checks', 'lint.log'), 'utf8'), /3 findings/);
  const published = await sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]);
  assert.equal(published.code, 1);
  assert.match(published.err, /vendor-checks/);
  assert.deepEqual(await storeFiles(cwd), ['metadata/1.root.json'], 'the store holds what init put there');
});

test('a hung check times out and every process it started is killed', async () => {
  const { cwd, release } = await approvedRelease();
  const command = await script(cwd, 'hang.sh', 'sleep 300 &\necho $! > child.pid\necho started\nwait');
  await editConfig(cwd, { checks: [{ name: 'hang', command, timeoutSeconds: 1 }] });
  const started = Date.now();
  const r = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(r.code, 1);
  assert.ok(Date.now() - started < 15_000, 'the gate did not wait for the check');
  assert.match(r.err, /check "hang" failed \(timed out after 1 s; output in checks\/hang\.log\): started/);
  const child = Number(await readFile(join(cwd, 'acme', 'child.pid'), 'utf8'));
  assert.equal(await alive(child), false, "the check's background process is gone too");
  assert.match(await readFile(join(release, 'checks', 'hang.log'), 'utf8'), /timed out after 1 s/);
});

test('a check that cannot start fails with the reason; a bad checks entry is refused naming sihl.json', async () => {
  const { cwd } = await approvedRelease();
  await editConfig(cwd, { checks: [{ name: 'missing', command: ['./no-such-scanner'] }] });
  const r = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(r.code, 1);
  assert.match(r.err, /check "missing" failed \(could not start: .*ENOENT/);
  await editConfig(cwd, { checks: [{ name: '../x', command: 'scan.sh', timeoutSeconds: 0 }] });
  const bad = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /sihl\.json: invalid workspace configuration/);
  assert.match(bad.err, /checks\[0\]\.name/);
  assert.match(bad.err, /checks\[0\]\.command must be a list/);
  assert.match(bad.err, /checks\[0\]\.timeoutSeconds/);
});
