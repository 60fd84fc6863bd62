// The operator's view of the fleet: a workspace with a published release, `sihl serve` taking the devices'
// signed reports over HTTPS, and `sihl fleet status --json` counting only entries each device signed.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ServeResult, serve } from '../../src/cli/commands/serve.ts';
import { makeSignedReport } from '../../src/device/report.ts';
import type { SecureElement } from '../../src/device/secure-element/secure-element.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { openSqliteLogStore } from '../../src/storage/sqlite-log-store.ts';
import { ok, PASSPHRASE, sihl } from '../support/cli.ts';
import { httpsRequest } from '../support/server.ts';
import { WS, world } from '../support/world.ts';

async function post(base: string, ca: string, body: Uint8Array): Promise<number> {
  const headers = { 'content-type': 'application/octet-stream' };
  return (await httpsRequest(`${base}/v1/reports`, { method: 'POST', ca, agent: false, headers }, body))
    .status;
}

test('fleet status shows what devices reported through sihl serve, and flags entries they did not sign', async () => {
  const { cwd, devices } = await world()
    .withApprovers(['alice'], 1)
    .withDevicesRunning('7.27.0', 3)
    .withRevokedDevice()
    .withReleasePublished('7.28.0')
    .build();
  const key = await stat(join(cwd, 'acme', 'tls', 'server.key'));
  assert.equal(key.mode & 0o777, 0o600, 'the TLS key is readable by its owner only');
  const [id1, id2] = devices.map((d) => d.id) as [string, string];

  // The server runs from the online folder, which shares the workspace's store, registry and log store.
  await ok(cwd, ['online', 'create', 'online', '--workspace', 'acme']);
  const served = (await serve.run({ workspace: 'online', port: '0' }, [], {
    cwd,
    env: { SIHL_PASSPHRASE: PASSPHRASE },
  })) as ServeResult;
  const cert = await readFile(join(cwd, 'acme', 'tls', 'server.crt'), 'utf8');
  assert.equal(served.fingerprint, new X509Certificate(cert).fingerprint256, 'the pinned certificate');
  assert.match(serve.render(served), /SHA-256 fingerprint [0-9A-F:]{95}/);
  const load = async (n: number): Promise<SecureElement> =>
    (await SimulatedDevice.load(join(cwd, `hub-${n}`))).secureElement;
  const [hub1, hub2, hub3] = [await load(1), await load(2), await load(3)];
  try {
    const target = 'movehub/movehub-7.28.0.sihl';
    const base = { time: 1_800_000_000, model: 'movehub' };
    const installed = { ...base, running: '7.28.0', outcome: 'installed', attempts: 2, target } as const;
    const expired = {
      ...base,
      running: '7.27.0',
      outcome: 'error',
      reason: 'TUF_METADATA_EXPIRED',
    } as const;
    assert.equal(await post(served.url, cert, makeSignedReport(hub1, { ...installed, seq: 1 })), 204);
    assert.equal(await post(served.url, cert, makeSignedReport(hub2, { ...expired, seq: 1 })), 204);
    const revoked = makeSignedReport(hub3, { ...installed, seq: 1 });
    assert.equal(await post(served.url, cert, revoked), 403, 'a revoked device is refused');
  } finally {
    await served.stop();
  }

  // Entries the server never accepted, written straight into the store: hub 2's report filed under
  // hub 1, and hub 1's report with a flipped byte. Neither may count.
  const logs = openSqliteLogStore(join(cwd, 'acme', 'logs.db'));
  const intruder = makeSignedReport(hub2, {
    seq: 9,
    time: 1_800_000_100,
    model: 'movehub',
    running: '6.0.0',
    outcome: 'booted',
  });
  const flipped = makeSignedReport(hub1, {
    seq: 9,
    time: 1_800_000_100,
    model: 'movehub',
    running: '6.0.0',
    outcome: 'booted',
  });
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0x80;
  await logs.append(id1, [{ received: new Date(), report: intruder }]);
  await logs.append(id1, [{ received: new Date(), report: flipped }]);
  await logs.close();

  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...WS]));
  const [d1, d2, d3] = status.devices;
  assert.equal(d1.id, id1);
  assert.equal(d1.running, '7.28.0', 'the forged entries did not move hub 1 back');
  assert.equal(d1.lastOutcome, 'installed');
  assert.equal(d1.attempts, 2);
  assert.equal(d1.reports, 1);
  assert.equal(d1.lastError, null);
  assert.equal(d2.id, id2);
  assert.equal(d2.running, '7.27.0');
  assert.equal(d2.lastError.reason, 'TUF_METADATA_EXPIRED');
  assert.equal(d3.revoked, true);
  assert.equal(d3.lastReport, null);
  assert.deepEqual(
    status.releases.map((r: { target: string; running: number }) => [r.target, r.running]),
    [['movehub/movehub-7.28.0.sihl', 1]],
  );
  assert.equal(status.flagged.length, 2);
  assert.ok(status.flagged.every((f: { deviceId: string }) => f.deviceId === id1));

  const human = await sihl(cwd, ['fleet', 'status', ...WS]);
  assert.equal(human.code, 0);
  assert.match(human.out, /TUF_METADATA_EXPIRED/);
  assert.match(human.out, /flagged \(2 entries not counted\)/);
});

test('fleet status does not count a revoked device, even one whose signed reports are in the log', async () => {
  // Reports written while its log credential still worked, or before it was revoked: they stay in the log.
  const { cwd, devices } = await world()
    .withApprovers(['alice'], 1)
    .withDevicesRunning('7.27.0', 2)
    .withReleasePublished('7.28.0')
    .build();
  const logs = openSqliteLogStore(join(cwd, 'acme', 'logs.db'));
  for (const [n, device] of devices.entries()) {
    const element = (await SimulatedDevice.load(join(cwd, `hub-${n + 1}`))).secureElement;
    const report = makeSignedReport(element, {
      seq: 1,
      time: 1_800_000_000,
      model: 'movehub',
      running: '7.28.0',
      outcome: 'installed',
      attempts: 1,
      target: 'movehub/movehub-7.28.0.sihl',
    });
    await logs.append(device.id, [{ received: new Date(), report }]);
  }
  await logs.close();
  const revoked = devices[1]?.id as string;
  await ok(cwd, ['device', 'revoke', revoked, ...WS]);
  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...WS]));
  assert.deepEqual(
    status.releases.map((r: { target: string; running: number }) => [r.target, r.running]),
    [['movehub/movehub-7.28.0.sihl', 1]],
  );
  const listed = status.devices.find((d: { id: string }) => d.id === revoked);
  assert.deepEqual([listed.revoked, listed.running], [true, '7.28.0'], 'still listed, with what it said');
});
