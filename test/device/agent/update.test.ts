// The update end to end over real HTTPS on 127.0.0.1: a device running Pybricks 7.27.0 polls the store,
// finds 7.28.0, downloads its envelope and the image into staging, verifies it, marks it pending; its
// bootloader installs it and the agent sends a signed report. Then polls cost one 304.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENVELOPE_BYTES } from '../../../src/core/format/envelope.ts';
import { decodeSignedReport, verifySignedReport } from '../../../src/core/format/report.ts';
import { BUCKET_SLOTS } from '../../../src/core/format/slot-table.ts';
import { ok } from '../../support/cli.ts';
import {
  bytesServed,
  configure,
  deviceAt,
  lastOf,
  makeFleet,
  openAgent,
  servedDevice,
  serveStore,
} from './support.ts';

test('a device finds the new release, stages it, installs it at boot and reports it, signed', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const { agent, sim } = await openAgent(device);

  const result = await agent.poll();
  assert.equal(result.outcome, 'staged', JSON.stringify(result));
  assert.equal(result.version, '7.28.0');
  assert.equal(sim.bootState()?.phase, 'pending');
  assert.equal(bytesServed(server, /\.sihl$/), fleet.image.length, 'the image is fetched once');
  // Its envelope: one bucket of the table (or two), with one range request each.
  const bucket = BUCKET_SLOTS * ENVELOPE_BYTES;
  assert.ok(
    server.log.some((s) => /envelopes\/0\.bin$/.test(s.path) && s.status === 206 && s.bytes === bucket),
  );

  const boot = await sim.boot();
  assert.equal(boot.outcome, 'booted');
  assert.equal(boot.installed, true);
  assert.deepEqual(sim.executable(fleet.firmware.length), fleet.firmware);
  await agent.reportBoot(boot);
  const report = verifySignedReport(lastOf(server.reports), sim.secureElement.identity().sign);
  assert.equal(report.outcome, 'installed');
  assert.equal(report.running, '7.28.0');
  assert.equal(report.target, fleet.target);
  assert.equal(report.device, device.id);
});

test('a poll when nothing changed costs one request, answered 304 with no body', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const first = await openAgent(device);
  assert.equal((await first.agent.poll()).outcome, 'staged');
  const boot = await first.sim.boot();
  await first.sim.save(device.dir);
  await first.agent.reportBoot(boot);

  // After the reboot: the timestamp has not changed since the agent last saw it.
  const { agent } = await openAgent(device);
  const before = server.log.length;
  const result = await agent.poll();
  assert.equal(result.outcome, 'unchanged');
  assert.equal(result.requests, 1);
  assert.equal(result.bytes, 0);
  assert.deepEqual(server.log.slice(before), [
    { method: 'GET', path: '/metadata/timestamp.json', status: 304, bytes: 0 },
  ]);
});

test('a device outside the rollout, and a revoked one, download no image and stage nothing', async () => {
  // A 0 % rollout: no device is in it, and no envelope is sealed.
  const none = await makeFleet({ rollout: 0 });
  const server = await serveStore(none.store);
  await configure(none, deviceAt(none, 0), server);
  const outside = await openAgent(deviceAt(none, 0));
  const result = await outside.agent.poll();
  assert.equal(result.outcome, 'not-eligible');
  assert.equal(outside.sim.bootState()?.phase, 'idle');
  assert.equal(bytesServed(server, /\.sihl$/), 0, 'the agent knows from the rollout rule alone');
});

/** A revoked device's honest agent: the signed entry lists it, so it fetches nothing and says so once. */
async function revokedDevicePolls(fleet: Awaited<ReturnType<typeof makeFleet>>) {
  const store = await serveStore(fleet.store);
  await configure(fleet, deviceAt(fleet, 1), store);
  const revoked = await openAgent(deviceAt(fleet, 1));
  const refused = await revoked.agent.poll();
  assert.equal(refused.outcome, 'revoked');
  assert.equal(bytesServed(store, /\.sihl$/), 0, 'no image is downloaded');
  assert.ok(!store.log.some((s) => /\/(envelopes|credentials)\//.test(s.path)), 'nor any table');
  assert.equal(revoked.sim.bootState()?.phase, 'idle');
  const identity = revoked.sim.secureElement.identity();
  assert.deepEqual(
    store.reports.map((r) => verifySignedReport(r, identity.sign)).map((r) => [r.outcome, r.reason]),
    [['error', 'REVOKED']],
  );
  // Polling again costs a 304 and sends no second report.
  assert.equal((await revoked.agent.poll()).outcome, 'unchanged');
  assert.equal(store.reports.length, 1);
}

test('a revoked device does not install an encrypted release: its agent reads its revocation in the signed entry', async () => {
  await revokedDevicePolls(await makeFleet({ count: 2, revoke: [1] }));
});

test('a revoked device does not install a signed-only release published after its revocation', async () => {
  // No envelope to withhold here: only the signed revocation stops an honest agent (docs/THREATS.md).
  await revokedDevicePolls(await makeFleet({ count: 2, revoke: [1], signedOnly: true }));
});

test('sihl sim device configure and run --once: the device updates itself through the CLI', async () => {
  const fleet = await makeFleet();
  const server = await serveStore(fleet.store);
  const device = deviceAt(fleet, 0);
  await writeFile(join(fleet.cwd, 'server.pem'), server.certificate);
  await ok(fleet.cwd, [
    'sim',
    'device',
    'configure',
    device.dir,
    '--server',
    server.url,
    '--certificate',
    'server.pem',
    '--root',
    join('acme', 'store', 'metadata', '1.root.json'),
    '--index',
    String(device.idx),
  ]);
  const run = JSON.parse(await ok(fleet.cwd, ['sim', 'device', 'run', device.dir, '--once', '--json']));
  assert.equal(run.outcome, 'staged');
  assert.deepEqual(run.installed, [fleet.target]);
  assert.equal(run.running, '7.28.0');
  assert.deepEqual(
    run.boots.map((b: { installed: boolean; version: string }) => [b.installed, b.version]),
    [
      [false, '7.27.0'],
      [true, '7.28.0'],
    ],
  );
  const reports = server.reports.map((r) => decodeSignedReport(r).report);
  assert.deepEqual(
    reports.map((r) => [r.seq, r.outcome, r.running]),
    [
      [1, 'booted', '7.27.0'],
      [2, 'installed', '7.28.0'],
    ],
  );
  const again = await ok(fleet.cwd, ['sim', 'device', 'run', device.dir, '--once']);
  assert.match(again, /unchanged; running 7\.28\.0/);
});

test("a torn root.json (tuf-js writes its files in place) is restored from the agent's atomic copy", async () => {
  const fleet = await makeFleet();
  const { device } = await servedDevice(fleet);
  const root = join(device.dir, 'agent', 'tuf', 'root.json');
  const whole = await readFile(root);
  await writeFile(root, whole.subarray(0, whole.length >> 1)); // a power cut in the middle of the write
  const { agent } = await openAgent(device);
  assert.equal((await agent.poll()).outcome, 'staged');
  assert.deepEqual(await readFile(root), whole);
});
