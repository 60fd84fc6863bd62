// Rollout counts that hostile devices cannot steer (docs/ROLLOUTS.md §What counts), each attack made as a
// device with exactly its own key would make it: posting signed reports to the server, or writing them
// straight into the log store as devices with an Azure Table credential do. Only unrevoked devices of
// the release's model in the stage count; download and verification failures and reverts count; a
// release at 100 % is halted too, by `rollout check` and by the server's monitor.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromHex } from '../../src/core/format/bytes.ts';
import { inRollout } from '../../src/core/rollout.ts';
import { openWorkspaceLogStore } from '../../src/publisher/fleet.ts';
import { readRollout } from '../../src/publisher/rollout.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { configure, deviceAt, makeFleet, openAgent } from '../device/agent/support.ts';
import { serveFleet } from '../server/console/console-support.ts';
import { ok } from '../support/cli.ts';
import { GENEROUS, serveWorkspace } from '../support/server.ts';
import {
  CRASHED,
  https,
  type LightDevice,
  makeRolloutFleet,
  pollOnce,
  RELEASE,
  type RolloutFleet,
  readTargets,
  registerLightDevices,
  signedReport,
  TARGET,
  writeReports,
} from './rollout-support.ts';

const WS = ['--workspace', 'acme'];

/** The bare server over the fleet's workspace (store and report intake), and a client pinning it. */
async function served(workspace: Workspace) {
  const server = await serveWorkspace(workspace, { limits: { reportsPerAddress: GENEROUS } });
  const http = https(server.url, server.cert);
  return { server, http };
}

/** `rollout check` as its cron job runs it: from the online folder (it refuses the workspace's keys). */
async function check(cwd: string, more: string[] = []) {
  await ok(cwd, ['online', 'create', 'online', ...WS]);
  return JSON.parse(await ok(cwd, ['rollout', 'check', RELEASE, ...more, '--json', '--workspace', 'online']));
}

async function stageOf(fleet: RolloutFleet, percent: number): Promise<(d: LightDevice) => boolean> {
  const release = join(fleet.workspace.dir, 'releases', RELEASE, 'release.json');
  const releaseId = fromHex(JSON.parse(await readFile(release, 'utf8')).releaseId);
  return (d) => inRollout(releaseId, d.id, percent);
}

test('five devices of another model post signed error reports naming the rollout: refused, not counted, no halt', async () => {
  const fleet = await makeRolloutFleet(20, 50);
  const aliens = registerLightDevices(fleet.workspace, 5, 'technichub');
  const { http } = await served(fleet.workspace);
  const error = { ...CRASHED, running: '1.0.0' };
  for (const alien of aliens) {
    // Honest about its own model, and lying about it: the server takes neither.
    for (const model of ['technichub', 'movehub']) {
      const sent = await http.post('/v1/reports', signedReport(alien, { ...error, model }));
      assert.equal(sent.status, 403, `a ${model} report of a technichub device: ${sent.body}`);
    }
  }
  // Devices that write the log table themselves (docs/CLOUD.md) pass no intake: the counts check too.
  const logs = await openWorkspaceLogStore(fleet.workspace, {});
  for (const [n, alien] of aliens.entries()) {
    const report = signedReport(alien, { ...error, model: n % 2 === 0 ? 'technichub' : 'movehub' });
    await logs.append(alien.id, [{ received: new Date(), report }]);
  }
  await logs.close();
  const checked = await check(fleet.cwd);
  assert.equal(checked.decision.action, 'none', checked.decision.why);
  assert.equal(checked.status, 'active');
  assert.deepEqual([checked.counts.reported, checked.counts.failed], [0, 0]);
});

test('five devices of another channel post signed error reports naming the rollout: refused, not counted, no halt', async () => {
  const fleet = await makeRolloutFleet(20, 50);
  const inStage = await stageOf(fleet, 50);
  const offered = fleet.devices.filter(inStage).length;
  // Movehubs in the stage, registered on the beta channel: 7.28.0 went out on stable, never to them.
  const beta = registerLightDevices(
    fleet.workspace,
    5,
    'movehub',
    (id) => inStage({ id } as LightDevice),
    'beta',
  );
  const { http } = await served(fleet.workspace);
  for (const d of beta) {
    const sent = await http.post('/v1/reports', signedReport(d, CRASHED));
    assert.equal(sent.status, 403, `a beta device's error report about a stable release: ${sent.body}`);
    assert.match(sent.body.toString(), /published on channel stable, not on the device's channel beta/);
  }
  // Written straight into the log table (docs/CLOUD.md): errors, and claims to run the release.
  const logs = await openWorkspaceLogStore(fleet.workspace, {});
  await writeReports(logs, beta, CRASHED);
  await writeReports(logs, beta.slice(0, 2), {
    running: '7.28.0',
    outcome: 'installed',
    attempts: 1,
    target: TARGET,
  });
  await logs.close();
  const checked = await check(fleet.cwd);
  assert.equal(checked.decision.action, 'none', checked.decision.why);
  assert.equal(checked.status, 'active');
  assert.deepEqual(
    [checked.counts.offered, checked.counts.reported, checked.counts.failed],
    [offered, 0, 0],
    'the beta devices are neither offered nor counted',
  );
  const status = JSON.parse(await ok(fleet.cwd, ['fleet', 'status', '--json', ...WS]));
  const release = status.releases.find((r: { target: string }) => r.target === TARGET);
  assert.deepEqual([release.channel, release.running], ['stable', 0], JSON.stringify(release));
  assert.equal(status.devices.filter((d: { channel: string }) => d.channel === 'beta').length, 5);
});

test('revoked devices that still write error reports into the log table are not counted', async () => {
  const fleet = await makeRolloutFleet(20, 100);
  const revoked = fleet.devices.slice(0, 5);
  for (const d of revoked) await ok(fleet.cwd, ['device', 'revoke', d.id, ...WS]);
  // The server refuses them (403); a log-table credential issued before the revocation still writes.
  const logs = await openWorkspaceLogStore(fleet.workspace, {});
  await writeReports(logs, revoked, CRASHED);
  await logs.close();
  const checked = await check(fleet.cwd);
  assert.equal(checked.decision.action, 'none', checked.decision.why);
  assert.deepEqual([checked.counts.offered, checked.counts.failed], [15, 0]);
});

test('fake installed reports from devices outside the stage do not dilute a real failure rate', async () => {
  const fleet = await makeRolloutFleet(80, 50);
  const inStage = await stageOf(fleet, 50);
  const inside = fleet.devices.filter(inStage);
  const outside = fleet.devices.filter((d) => !inStage(d));
  assert.ok(outside.length >= 30, `${outside.length} devices outside the stage`);
  const { http } = await served(fleet.workspace);
  const post = async (d: LightDevice, fields: Parameters<typeof signedReport>[1]) =>
    assert.equal((await http.post('/v1/reports', signedReport(d, fields))).status, 204);
  for (const d of inside.slice(0, 6)) await post(d, CRASHED);
  // Registered movehubs, signed by themselves, never offered the release: they claim they installed it.
  for (const d of outside)
    await post(d, { running: '7.28.0', outcome: 'installed', attempts: 1, target: TARGET });

  const checked = await check(fleet.cwd);
  assert.equal(checked.decision.action, 'halt', checked.decision.why);
  assert.deepEqual(
    [checked.counts.reported, checked.counts.failed, checked.failurePercent],
    [6, 6, 100],
    'only the stage counts',
  );
  assert.equal(checked.counts.offered, inside.length);
});

test('a release at 100 % with 8 of 20 devices failing is halted by rollout check', async () => {
  const fleet = await makeRolloutFleet(20, 100);
  const { http } = await served(fleet.workspace);
  const failing = new Set(fleet.devices.slice(0, 8).map((d) => d.id));
  const targets = await readTargets(http);
  for (const d of fleet.devices) await pollOnce(http, d, targets, (x) => failing.has(x.id));
  const checked = await check(fleet.cwd);
  assert.equal(checked.decision.action, 'halt', checked.decision.why);
  assert.match(checked.decision.why, /8 of 20 devices failed \(40 %, threshold 20 %/);
  assert.equal(checked.status, 'halted');
});

test('a release at 100 % with 8 of 20 devices failing is halted by the monitor in sihl serve', async () => {
  const fleet = await makeRolloutFleet(20, 100);
  const server = await serveFleet(fleet, { checkDelayMs: 20 });
  const failing = new Set(fleet.devices.slice(0, 8).map((d) => d.id));
  const targets = await readTargets(server.http);
  for (const d of fleet.devices) await pollOnce(server.http, d, targets, (x) => failing.has(x.id));
  for (let waited = 0; server.events.length === 0 && waited < 5000; waited += 20) await sleep(20);
  assert.deepEqual(
    server.events.map((e) => [e.release, e.action]),
    [[RELEASE, 'halt']],
    JSON.stringify(server.events),
  );
  const saved = await readRollout(join(fleet.workspace.dir, 'releases', RELEASE));
  assert.equal(saved?.status, 'halted');
  assert.ok((saved?.halt?.failurePercent ?? 0) >= 20, JSON.stringify(saved?.halt));
});

test('devices that fail to download or verify the image count as failed, and halt it', async () => {
  const fleet = await makeFleet({ count: 3 });
  // One byte of the published image flips in the store (a disk or CDN fault, or a mirror tampered
  // with): every device's download fails its check.
  const image = join(fleet.store, 'targets', 'movehub');
  const [name] = (await readdir(image)).filter((n) => n.endsWith('.movehub-7.28.0.sihl'));
  const flip = async () => {
    const handle = await open(join(image, name as string), 'r+');
    const byte = new Uint8Array(1);
    await handle.read(byte, 0, 1, 5000);
    byte[0] = (byte[0] as number) ^ 0x01;
    await handle.write(byte, 0, 1, 5000);
    await handle.close();
  };
  await flip();

  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  const { server } = await served(workspace);
  const reasons: string[] = [];
  for (const [n] of fleet.devices.entries()) {
    const device = deviceAt(fleet, n);
    await configure(fleet, device, { url: server.url, certificate: server.cert });
    const { agent } = await openAgent(device);
    const poll = await agent.poll();
    assert.equal(poll.outcome, 'error', JSON.stringify(poll));
    reasons.push(poll.error?.code ?? '');
  }
  // The store is mended (a halt re-checks every image it republishes), then the rollout is checked.
  await flip();
  const checked = await check(fleet.cwd, ['--min-failures', '3']);
  assert.equal(checked.decision.action, 'halt', `${checked.decision.why} (${reasons.join(', ')})`);
  assert.deepEqual([checked.counts.reported, checked.counts.failed], [3, 3]);
});
