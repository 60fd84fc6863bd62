// Freeze and mirror attacks: a server that keeps serving an expired timestamp gets the expiry reported
// and nothing installed; a store whose image bytes were altered is refused before anything is pending.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSignedReport } from '../../../src/core/format/report.ts';
import { refreshTimestamp } from '../../../src/publisher/timestamp.ts';
import { Workspace } from '../../../src/publisher/workspace.ts';
import { PASSPHRASE } from '../../support/cli.ts';
import { bytesServed, deviceAt, lastOf, makeFleet, openAgent, servedDevice } from './support.ts';

test('an expired timestamp (a freeze attack) is reported as TUF_METADATA_EXPIRED and nothing is installed', async () => {
  const fleet = await makeFleet();
  // Re-signed as if three days ago: it expired two days ago, and the server keeps serving it.
  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  await refreshTimestamp(workspace, async () => PASSPHRASE, {
    now: () => new Date(Date.now() - 3 * 86_400_000),
  });
  const { server, device } = await servedDevice(fleet);
  const { agent, sim } = await openAgent(device);

  const result = await agent.poll();
  assert.equal(result.outcome, 'error');
  assert.equal(result.error?.code, 'TUF_METADATA_EXPIRED');
  assert.equal(sim.bootState()?.phase, 'idle');
  assert.equal(bytesServed(server, /\.sihl$/), 0, 'no image is fetched');
  const reports = server.reports.map((r) => decodeSignedReport(r).report);
  assert.deepEqual(
    reports.map((r) => [r.outcome, r.reason, r.running]),
    [['error', 'TUF_METADATA_EXPIRED', '7.27.0']],
  );

  // It stays refused at every poll (no ETag is kept for it), and is reported once, not at every poll.
  const again = await agent.poll();
  assert.equal(again.error?.code, 'TUF_METADATA_EXPIRED');
  assert.equal(server.log.filter((s) => s.path === '/metadata/timestamp.json' && s.status === 200).length, 2);
  assert.equal(server.reports.length, 1);
});

test('an image altered on the mirror is refused (TARGET_MISMATCH) and nothing is marked pending', async () => {
  const fleet = await makeFleet();
  const folder = join(fleet.store, 'targets', 'movehub');
  const [name] = await readdir(folder);
  const path = join(folder, name as string);
  const bytes = new Uint8Array(await readFile(path));
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 1; // one bit in the payload
  await writeFile(path, bytes);
  const { server, device } = await servedDevice(fleet);
  const { agent, sim } = await openAgent(device);

  const result = await agent.poll();
  assert.equal(result.outcome, 'error');
  assert.equal(result.error?.code, 'TARGET_MISMATCH');
  assert.equal(sim.bootState()?.phase, 'idle', 'nothing pending');
  assert.ok(
    sim.readStaging(0, fleet.image.length).every((b) => b === 0xff),
    'the refused bytes are erased',
  );
  assert.equal(agent.state.download, undefined, 'the next attempt starts afresh');
  assert.equal(decodeSignedReport(lastOf(server.reports)).report.reason, 'TARGET_MISMATCH');
  const boot = await sim.boot();
  assert.equal(boot.installed, false);
  assert.equal(boot.running.version, '7.27.0');
});

test("the agent's own check refuses staged bytes whose signatures fail, as the bootloader would", async () => {
  const fleet = await makeFleet();
  const { SimulatedDevice } = await import('../../../src/device/simulator/simulated-device.ts');
  const { checkEnvelopeFits, verifyStaged } = await import('../../../src/device/agent/verify-staged.ts');
  const sim = await SimulatedDevice.load(deviceAt(fleet, 0).dir);
  const running = (version: string) => ({ version, running: '7.27.0' });
  const stage = (image: Uint8Array) => {
    const padded = new Uint8Array(Math.ceil(image.length / 4096) * 4096).fill(0xff);
    padded.set(image);
    sim.eraseStaging(0, padded.length);
    sim.writeStaging(0, padded);
  };
  stage(fleet.image);
  // The genuine image passes every signature check and stops only at its missing envelope.
  const genuine = await verifyStaged(sim, fleet.image.length, running('7.28.0'));
  assert.throws(() => checkEnvelopeFits(genuine, new Uint8Array(0)), { code: 'ENVELOPE_REQUIRED' });
  await assert.rejects(verifyStaged(sim, fleet.image.length, running('7.29.0')), {
    code: 'MANIFEST_INCONSISTENT',
  });
  // Whatever the targets entry claims, the signed version must be above the running one.
  const above = { version: '7.29.0', running: '7.28.0' };
  await assert.rejects(verifyStaged(sim, fleet.image.length, above), {
    code: 'VERSION_ROLLBACK',
  });
  const tampered = fleet.image.slice();
  tampered[200] = (tampered[200] as number) ^ 1; // inside the signed manifest
  stage(tampered);
  await assert.rejects(verifyStaged(sim, tampered.length, running('7.28.0')), {
    family: 'verification',
  });
});
