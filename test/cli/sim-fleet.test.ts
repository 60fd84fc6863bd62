// `sihl sim fleet`: devices provisioned before a release is published, then run in one process over real
// HTTPS (the embedded server) until all run it; injected power cuts repeat an install, injected
// failures show in the fleet status as operators see them.
// tag: slow (a simulated fleet)
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Workspace } from '../../src/publisher/workspace.ts';
import { ok, sihl } from '../support/cli.ts';
import { serveWorkspace } from '../support/server.ts';
import { shipRelease, world } from '../support/world.ts';

const ws = ['--workspace', 'acme'];
const DEVICES = 12;

interface Outcome {
  id: string;
  outcome: string;
  running: string;
  attempts: number | null;
  powerCut: boolean;
}

test('sim fleet: provisioned before publishing, devices update; power cuts repeat, failed trials revert and are reported', async () => {
  const { cwd } = await world().build();

  const early = await sihl(cwd, ['sim', 'fleet', '--devices', '3', ...ws]);
  assert.notEqual(early.code, 0);
  assert.match(early.err, /--provision-only` before publishing/);

  const provision = ['sim', 'fleet', '--devices', String(DEVICES), '--provision-only', '--model', 'movehub'];
  const made = JSON.parse(
    await ok(cwd, [...provision, '--firmware', 'old.bin', '--version', '7.27.0', '--json', ...ws]),
  );
  assert.equal(made.devices, DEVICES);
  const listed = JSON.parse(await ok(cwd, ['device', 'list', '--json', ...ws]));
  assert.equal((listed.devices ?? listed).length, DEVICES, 'all registered');

  const nothing = await sihl(cwd, ['sim', 'fleet', '--devices', '3', ...ws]);
  assert.notEqual(nothing.code, 0);
  assert.match(nothing.err, /nothing newer than 7\.27\.0 is published/);

  await shipRelease(cwd, '7.28.0', { rollout: 100 });

  const run = JSON.parse(
    await ok(cwd, [
      'sim',
      'fleet',
      '--devices',
      String(DEVICES),
      '--interval',
      '1',
      '--power-cut-rate',
      '30',
      '--failure-rate',
      '20',
      '--seed',
      '5',
      '--json',
      ...ws,
    ]),
  );
  assert.equal(run.embedded, true);
  assert.equal(run.target, '7.28.0');
  const reverted = (run.devices as Outcome[]).filter((d) => d.outcome === 'failed').length;
  assert.equal(run.updated, DEVICES - reverted);
  assert.equal(run.notUpdated, 0);
  assert.equal(run.undelivered, 0, 'every report reached the server');
  // Reverted devices never run the target: the last percentiles may never be reached.
  assert.ok(run.timeTo.p50 !== null && run.timeTo.p50 <= (run.timeTo.p90 ?? Number.POSITIVE_INFINITY));
  assert.ok(run.requests >= DEVICES * 8, `${run.requests} requests`);
  const devices = run.devices as Outcome[];
  const cut = devices.filter((d) => d.powerCut);
  const failed = devices.filter((d) => d.outcome === 'failed');
  assert.ok(cut.length > 0 && failed.length > 0, 'the seed injects both');
  assert.equal(run.powerCuts, cut.length);
  for (const d of devices) assert.equal(d.running, d.outcome === 'failed' ? '7.27.0' : '7.28.0');
  for (const d of cut) assert.equal(d.attempts, 2, 'a cut install is done again at the next boot');
  for (const d of devices.filter((x) => !x.powerCut)) assert.equal(d.attempts, 1);

  // What an operator sees: the failed trials, reverted, with their reason; every other device updated.
  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...ws]));
  assert.equal(status.releases[0].running, DEVICES - failed.length);
  const reverts = status.devices.filter((d: { lastOutcome: string }) => d.lastOutcome === 'reverted');
  assert.deepEqual(reverts.map((d: { id: string }) => d.id).sort(), failed.map((d) => d.id).sort());
  for (const d of reverts) assert.equal(d.lastError.reason, 'TRIAL_NOT_CONFIRMED');
});

/** Two simulated devices provisioned on 7.27.0, then 7.28.0 published at `rollout` percent. */
async function twoDevices(rollout: number): Promise<string> {
  const { cwd } = await world().build();
  const provision = ['sim', 'fleet', '--devices', '2', '--provision-only', '--model', 'movehub'];
  await ok(cwd, [...provision, '--firmware', 'old.bin', '--version', '7.27.0', ...ws]);
  await shipRelease(cwd, '7.28.0', { rollout });
  return cwd;
}

test('sim fleet exits 1 when devices did not reach the release by the deadline, so a pipeline stops', async () => {
  // No device is in a 0 % rollout: none gets the content key, none can update.
  const cwd = await twoDevices(0);
  const untilDeadline = (seconds: string, ...more: string[]) =>
    sihl(cwd, ['sim', 'fleet', '--devices', '2', '--interval', '1', '--deadline', seconds, ...more, ...ws]);
  const run = await untilDeadline('1');
  assert.equal(run.code, 1, run.out + run.err);
  assert.match(run.out, /0 of 2 devices run 7\.28\.0 .*; 2 not updated by the deadline/);
  const json = await untilDeadline('1', '--json');
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.out).notUpdated, 2);
});

test('a report the server turned away (429) is sent again at the next poll: the run ends with every report in', async () => {
  const cwd = await twoDevices(100);
  // One report per device at once: the boot report passes, the install's report right after it waits.
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const server = await serveWorkspace(workspace, {
    limits: { reportsPerDevice: { burst: 1, perMinute: 60 } },
  });
  await writeFile(join(cwd, 'server.crt'), server.cert);
  const run = JSON.parse(
    await ok(cwd, [
      ...['sim', 'fleet', '--devices', '2', '--server', `${server.url}/`, '--certificate', 'server.crt'],
      ...['--interval', '1', '--json', ...ws],
    ]),
  );
  assert.equal(run.updated, 2);
  assert.equal(run.undelivered, 0, 'the reports turned away were sent again');
  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...ws]));
  assert.equal(status.releases[0].running, 2);
  for (const d of status.devices) assert.equal(d.lastOutcome, 'installed', JSON.stringify(d));
});
