// What the agent makes of what the bootloader did: staging that changed after the agent verified it is
// corruption, not a bad release (reported, downloaded again after a backoff, never put aside); a trial
// the application confirms is kept; one it does not is reverted at the next boot and reported.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifySignedReport } from '../../../src/core/format/report.ts';
import { PYBRICKS_PREVIOUS, pybricksFirmware } from '../../support/fixtures.ts';
import { lastOf, makeFleet, openAgent, servedDevice } from './support.ts';

/** Timers whose clock the test moves; nothing sleeps. */
function clock(start = Date.parse('2026-12-01T00:00:00Z')) {
  let now = start;
  return {
    timers: { now: () => new Date(now), sleep: async () => {}, random: () => 0 },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('staging corrupted after the agent verified it is reported, backed off from and downloaded again, never put aside', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const time = clock();
  const { agent, sim } = await openAgent(device, { timers: time.timers });
  assert.equal((await agent.poll()).outcome, 'staged');
  // One bit of the staged payload flips on the flash chip between the agent's check and the boot.
  const state = sim.bootState();
  assert.ok(state);
  const at = sim.layout.staging.offset + state.stagedImage - 100;
  sim.flash.memory[at] = (sim.flash.memory[at] as number) ^ 0x04;
  const boot = await sim.boot();
  assert.deepEqual(
    [boot.outcome, boot.reason, boot.running.version],
    ['rejected', 'PAYLOAD_DIGEST_MISMATCH', '7.27.0'],
  );
  await agent.reportBoot(boot);
  const report = verifySignedReport(lastOf(server.reports), sim.secureElement.identity().sign);
  assert.deepEqual(
    [report.outcome, report.reason, report.target],
    ['rejected', 'PAYLOAD_DIGEST_MISMATCH', fleet.target],
  );
  assert.deepEqual(agent.state.refused, [], 'nothing is put aside');
  assert.equal(agent.state.corrupt?.count, 1);

  // Within the backoff the release is not fetched again; after it, it is, and it installs.
  const waiting = await agent.poll();
  assert.equal(waiting.outcome, 'retry-later');
  assert.equal(sim.bootState()?.phase, 'idle');
  time.advance(24 * 3600 * 1000);
  const again = await agent.poll();
  assert.equal(again.outcome, 'staged', JSON.stringify(again));
  const installed = await sim.boot();
  assert.deepEqual([installed.outcome, installed.installed, installed.trial], ['booted', true, true]);
  await agent.reportBoot(installed);
  agent.confirm();
  assert.equal(sim.bootState()?.phase, 'idle');
  assert.equal(sim.bootState()?.running.version, '7.28.0');
});

test('a trial the application does not confirm is reverted at the next boot, reported, and not installed again', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const { agent, sim } = await openAgent(device);
  assert.equal((await agent.poll()).outcome, 'staged');
  const trial = await sim.boot();
  await agent.reportBoot(trial);
  assert.equal(
    verifySignedReport(lastOf(server.reports), sim.secureElement.identity().sign).outcome,
    'installed',
  );
  // The self-test fails; the watchdog reboots before any confirmation.
  const reverted = await sim.boot();
  assert.deepEqual(
    [reverted.outcome, reverted.reason, reverted.running.version],
    ['reverted', 'TRIAL_NOT_CONFIRMED', '7.27.0'],
  );
  const old = await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub');
  assert.ok(Buffer.from(sim.executable(old.length)).equals(old), 'the old firmware, byte for byte');
  await agent.reportBoot(reverted);
  const report = verifySignedReport(lastOf(server.reports), sim.secureElement.identity().sign);
  // Named after the release that failed, so the rollout counts the revert against it.
  assert.deepEqual(
    [report.outcome, report.reason, report.running, report.target],
    ['reverted', 'TRIAL_NOT_CONFIRMED', '7.27.0', fleet.target],
  );
  assert.equal(sim.secureElement.trust().securityCounter, 0, 'the counter never moved');
  assert.notEqual(
    (await agent.poll()).outcome,
    'staged',
    'a release that failed here is not installed again',
  );
});
