// Staged rollouts: the planner's decisions, and `sihl rollout` widening, halting and resuming a published
// release through new signed metadata and envelope tables.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromHex } from '../../src/core/format/bytes.ts';
import { inRollout } from '../../src/core/rollout.ts';
import { readPublished, targetEntries } from '../../src/publisher/published.ts';
import { DEFAULT_POLICY, decide, type RolloutState, readRollout } from '../../src/publisher/rollout.ts';
import { tempDir } from '../helpers.ts';
import { ok, sihl } from '../support/cli.ts';
import { envelopeInStore } from '../support/tables.ts';
import { makeRolloutFleet, RELEASE, TARGET } from './rollout-support.ts';

const T0 = new Date('2026-11-01T00:00:00Z');
const state = (patch: Partial<RolloutState> = {}): RolloutState => ({
  sihl: 'rollout',
  version: 1,
  target: TARGET,
  releaseId: '00',
  stages: [1, 10, 50, 100],
  percent: 10,
  status: 'active',
  policy: DEFAULT_POLICY,
  stageSince: T0.toISOString(),
  countSince: T0.toISOString(),
  history: [],
  ...patch,
});
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

test('the planner halts once failures reach the rate and the minimum count, not before', () => {
  assert.equal(
    decide(state(), { offered: 100, reported: 4, succeeded: 0, failed: 4 }, T0).action,
    'none',
    'four is under five',
  );
  assert.equal(
    decide(state(), { offered: 100, reported: 100, succeeded: 81, failed: 19 }, T0).action,
    'none',
    '19 % < 20 %',
  );
  const halt = decide(state(), { offered: 100, reported: 25, succeeded: 20, failed: 5 }, T0);
  assert.equal(halt.action, 'halt');
  assert.match(halt.why, /5 of 25 devices failed \(20 %/);
  assert.equal(
    decide(state({ status: 'halted' }), { offered: 100, reported: 9, succeeded: 0, failed: 9 }, T0).action,
    'none',
  );
  // A complete rollout (100 %) still reaches devices that have not installed it: it halts too.
  const complete = decide(
    state({ percent: 100, status: 'complete' }),
    { offered: 20, reported: 20, succeeded: 12, failed: 8 },
    T0,
  );
  assert.equal(complete.action, 'halt');
  assert.match(complete.why, /8 of 20 devices failed \(40 %, threshold 20 %/);
});

test('the planner advances on schedule only with enough healthy reports', () => {
  const timed = state({ policy: { ...DEFAULT_POLICY, advanceAfterSeconds: 3600, minReports: 10 } });
  const healthy = { offered: 100, reported: 30, succeeded: 29, failed: 1 };
  assert.equal(decide(timed, healthy, later(3599)).action, 'none', 'too early');
  assert.deepEqual(decide(timed, healthy, later(3600)), {
    action: 'advance',
    to: 50,
    why: '29 of 30 succeeded',
  });
  assert.equal(
    decide(timed, { offered: 100, reported: 9, succeeded: 9, failed: 0 }, later(7200)).action,
    'none',
    'too few',
  );
  assert.equal(decide(state(), healthy, later(1e6)).action, 'none', 'by hand unless a schedule is set');
  assert.equal(decide(state({ percent: 100, status: 'complete' }), healthy, later(1e6)).action, 'none');
});

test('failure rates are percentages; a rollout.json of an older sihl, which kept fractions, is read as such', async () => {
  assert.equal(DEFAULT_POLICY.failurePercent, 20);
  const dir = await tempDir();
  const { failurePercent: _p, ...policy } = DEFAULT_POLICY;
  const halt = {
    at: T0.toISOString(),
    by: 'auto',
    percent: 10,
    failed: 6,
    reported: 12,
    rate: 0.5,
    reason: 'x',
  };
  const older = { ...state({ status: 'halted' }), policy: { ...policy, failureRate: 0.3 }, halt };
  await writeFile(join(dir, 'rollout.json'), JSON.stringify(older));
  const read = await readRollout(dir);
  assert.equal(read?.policy.failurePercent, 30);
  assert.equal(read?.halt?.failurePercent, 50);
  assert.equal(decide(state(), { offered: 30, reported: 10, succeeded: 8, failed: 2 }, T0).action, 'none');
});

async function entry(store: string) {
  const e = targetEntries((await readPublished(store)).targets).find((t) => t.name === TARGET);
  assert.ok(e, 'the entry stays published');
  return e.custom as { rollout: number; halted?: boolean; envelopes: string; releaseId: string };
}

async function slotIsSealed(store: string, box: Uint8Array): Promise<boolean> {
  return (await envelopeInStore(store, TARGET, box)) !== undefined;
}

test('advance widens the cohort with new signed metadata and envelopes; halt withdraws both; resume restores', async () => {
  const fleet = await makeRolloutFleet(60, 10);
  const ws = ['--workspace', 'acme'];
  const store = fleet.workspace.storeDir;
  const before = await readPublished(store);

  const status = JSON.parse(
    await ok(fleet.cwd, ['rollout', 'status', RELEASE, '--stages', '10,50,100', '--json', ...ws]),
  );
  assert.equal(status.status, 'active');
  assert.equal(status.percent, 10);
  assert.equal(status.next, 50);

  const advanced = JSON.parse(await ok(fleet.cwd, ['rollout', 'advance', RELEASE, '--json', ...ws]));
  assert.equal(advanced.percent, 50);
  const widened = await entry(store);
  assert.equal(widened.rollout, 50);
  const after = await readPublished(store);
  assert.equal(after.targets?.signed.version, (before.targets?.signed.version ?? 0) + 1);
  const releaseId = fromHex(widened.releaseId);
  for (const d of fleet.devices) {
    const inside = inRollout(releaseId, d.id, 50);
    assert.equal(await slotIsSealed(store, d.box.publicKey), inside, `device ${d.idx} in cohort: ${inside}`);
  }

  const halt = JSON.parse(await ok(fleet.cwd, ['rollout', 'halt', RELEASE, '--json', ...ws]));
  assert.equal(halt.status, 'halted');
  assert.equal(halt.halt.by, 'operator');
  const withdrawn = await entry(store);
  assert.equal(withdrawn.rollout, 0);
  assert.equal(withdrawn.halted, true);
  await assert.rejects(
    stat(join(store, widened.envelopes)),
    { code: 'ENOENT' },
    'the envelope tables are gone',
  );
  const again = await sihl(fleet.cwd, ['rollout', 'advance', RELEASE, ...ws]);
  assert.equal(again.code, 2);
  assert.match(again.err, /halted: resume it first/);

  const resumed = JSON.parse(await ok(fleet.cwd, ['rollout', 'resume', RELEASE, '--json', ...ws]));
  assert.equal(resumed.status, 'active');
  const back = await entry(store);
  assert.equal(back.rollout, 50);
  assert.equal(back.halted, undefined);
  const sealed = await Promise.all(fleet.devices.map((d) => slotIsSealed(store, d.box.publicKey)));
  assert.equal(
    sealed.filter(Boolean).length,
    fleet.devices.filter((d) => inRollout(releaseId, d.id, 50)).length,
  );

  const saved = await readRollout(join(fleet.workspace.dir, 'releases', RELEASE));
  assert.deepEqual(
    saved?.history.map((h) => h.action),
    ['start', 'advance', 'halt', 'resume'],
  );
  assert.match(
    await readFile(join(fleet.workspace.dir, 'releases', RELEASE, 'rollout.json'), 'utf8'),
    /"status": "active"/,
  );
});

test('rollout refuses what it cannot do, with a usage error', async () => {
  const fleet = await makeRolloutFleet(3, 100);
  const ws = ['--workspace', 'acme'];
  const full = await sihl(fleet.cwd, ['rollout', 'advance', RELEASE, ...ws]);
  assert.equal(full.code, 2);
  assert.match(full.err, /already at 100 %|resume/);
  const bad = await sihl(fleet.cwd, ['rollout', 'status', RELEASE, '--stages', '50,10', ...ws]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /rising, ending at 100/);
  const none = await sihl(fleet.cwd, ['rollout', 'status', 'movehub-9.9.9', ...ws]);
  assert.notEqual(none.code, 0);
});
