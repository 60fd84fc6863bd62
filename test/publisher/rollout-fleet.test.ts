// Acceptance: 1,000 simulated devices over real HTTPS and real crypto, a release at 10 %, firmware that
// fails on a third of the devices. The server halts the rollout by itself once the failure threshold is
// crossed, no device outside the stage installs it, and the console says why.
// tag: slow (a fleet of 1,000 devices)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromHex } from '../../src/core/format/bytes.ts';
import { inRollout } from '../../src/core/rollout.ts';
import { readRollout } from '../../src/publisher/rollout.ts';
import { serveFleet } from '../server/console/console-support.ts';
import { makeRolloutFleet, type PollOutcome, pollOnce, RELEASE, readTargets } from './rollout-support.ts';

const DEVICES = 1_000;
const WAVE = 50;

test('1,000 devices at 10 %: failures halt the rollout by themselves, and nobody outside the stage installs', async () => {
  const started = performance.now();
  const fleet = await makeRolloutFleet(DEVICES, 10);
  const setUp = performance.now();
  const served = await serveFleet(fleet, { checkDelayMs: 20 });
  const state = await readRollout(join(fleet.workspace.dir, 'releases', RELEASE));
  assert.equal(state, undefined, 'the monitor starts the rollout state by itself');
  const { releaseId: hex } = JSON.parse(
    await readFile(join(fleet.workspace.dir, 'releases', RELEASE, 'release.json'), 'utf8'),
  );
  const releaseId = fromHex(hex);
  const inStage = (id: string) => inRollout(releaseId, id, 10);
  const fails = (d: { idx: number }) => d.idx % 3 === 0;

  // Devices poll in waves, as a fleet on staggered timers does; each reads the metadata itself.
  const outcomes = new Map<string, PollOutcome>();
  for (let at = 0; at < DEVICES; at += WAVE) {
    await Promise.all(
      fleet.devices.slice(at, at + WAVE).map(async (d) => {
        outcomes.set(d.id, await pollOnce(served.http, d, await readTargets(served.http), fails));
      }),
    );
    // Staggered timers: the next wave comes after the server has had time to act on this one's reports
    // (a halt unlocks keys and signs new metadata, which takes a while); without the pause a fast machine
    // polls the whole stage before the halt lands.
    await sleep(150);
  }
  for (let waited = 0; served.events.length === 0 && waited < 2000; waited += 20) await sleep(20);
  const ran = performance.now();

  const halt = served.events.find((e) => e.release === RELEASE);
  assert.equal(halt?.action, 'halt', `the server halted the rollout: ${JSON.stringify(served.events)}`);
  const touched = fleet.devices.filter((d) => ['installed', 'failed'].includes(outcomes.get(d.id) as string));
  const cohort = fleet.devices.filter((d) => inStage(d.id));
  assert.ok(cohort.length > 50 && cohort.length < 150, `about 10 % in the stage: ${cohort.length}`);
  assert.deepEqual(
    touched.filter((d) => !inStage(d.id)),
    [],
    'no device outside the stage installed it',
  );
  assert.ok(
    touched.length < cohort.length,
    `the halt stopped the stage midway: ${touched.length} of ${cohort.length}`,
  );

  const saved = await readRollout(join(fleet.workspace.dir, 'releases', RELEASE));
  assert.equal(saved?.status, 'halted');
  assert.equal(saved?.halt?.by, 'auto');
  assert.ok(
    (saved?.halt?.failed ?? 0) >= 5 && (saved?.halt?.failurePercent ?? 0) >= 20,
    JSON.stringify(saved?.halt),
  );

  // After the halt even devices of the stage that had not polled yet are refused the release.
  const late = cohort.find((d) => !outcomes.has(d.id) || outcomes.get(d.id) === 'not-in-rollout');
  if (late)
    assert.equal(await pollOnce(served.http, late, await readTargets(served.http), fails), 'not-in-rollout');

  const page = await served.http.request('GET', `/console/releases/${RELEASE}`, {
    authorization: `Bearer ${served.token}`,
  });
  const text = page.body.toString();
  assert.match(text, /Halted automatically/);
  assert.match(
    text,
    new RegExp(`${saved?.halt?.failed} of ${saved?.halt?.reported} reporting devices had failed`),
  );
  assert.match(text, /threshold 20 % with at least 5/);
  process.stderr.write(
    `# 1,000 devices: set-up ${((setUp - started) / 1000).toFixed(1)} s, rollout ${((ran - setUp) / 1000).toFixed(1)} s; ` +
      `${touched.length} of ${cohort.length} in the stage reported before the halt (${saved?.halt?.failed} failed of ${saved?.halt?.reported})\n`,
  );
});
