// The fast-forward attack (TUF §5.4.3, Uptane "freeze by fast-forward"): with the stolen online timestamp
// key, a mirror pushes the timestamp version far ahead; the device then refuses every honest timestamp as
// a rollback and is frozen. The vendor's way out is to rotate the timestamp key: the device reaches the
// new root, its trusted timestamp no longer verifies under it and is dropped (TUF §5.3.11), and the
// honest timestamp is accepted again. Its own file: the rotation changes the workspace.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TIMESTAMP_PATH } from '../../src/publisher/tuf/publish.ts';
import { ok, ROOT_KEY } from '../support/cli.ts';
import {
  assertOldFirmwareRuns,
  forgeRepository,
  makeBench,
  OLD_VERSION,
  serveBytes,
  victim,
} from './support.ts';

const shared = makeBench();

test('a timestamp version pushed far ahead freezes the device until the timestamp key rotates, then it updates', async () => {
  const bench = await shared;
  const v = await victim(bench);
  // The attacker signs timestamp version 1,000,000 (for a snapshot that does not exist) with the stolen key.
  const forged = await forgeRepository(bench, { timestampVersion: 1_000_000, snapshotVersion: 1_000_000 });
  bench.mirror.rules = [serveBytes(/\/timestamp\.json$/, forged.get(TIMESTAMP_PATH) as Uint8Array)];
  const pushed = await v.agent.poll();
  assert.equal(pushed.outcome, 'error');
  assert.equal(pushed.error?.code, 'TUF_METADATA_INCONSISTENT');

  // Honest again: every real timestamp is now "older" than the one the device trusts.
  bench.mirror.rules = [];
  const frozen = await v.agent.poll();
  assert.equal(frozen.outcome, 'error');
  assert.equal(frozen.error?.code, 'TUF_METADATA_INCONSISTENT');
  assert.match(frozen.error?.message ?? '', /version \d+ is less than current version 1000000/);
  assert.equal(v.agent.state.lastError, 'TUF_METADATA_INCONSISTENT');
  const reports = await bench.reports(v.firstSeq);
  assert.deepEqual(
    reports.map((r) => [r.outcome, r.reason]),
    [['error', 'TUF_METADATA_INCONSISTENT']],
  );
  await assertOldFirmwareRuns(bench, v);

  // Recovery: the vendor rotates the timestamp key; a new root names the new key.
  await ok(bench.fleet.cwd, ['keys', 'rotate', '--role', 'timestamp', ...ROOT_KEY, '--workspace', 'acme']);
  const recovered = await v.agent.poll();
  assert.equal(recovered.outcome, 'staged', JSON.stringify(recovered));
  assert.equal(recovered.version, '7.29.0');
  const boot = await v.sim.boot();
  assert.equal(boot.installed, true);
  assert.notEqual(boot.running.version, OLD_VERSION);
});
