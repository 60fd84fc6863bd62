// Downloads resume: a connection dropped half-way through the image, and a process killed while it was
// downloading, both go on from the last sector in flash (kept in the device's storage), so the bytes
// fetched in all are about one image, not two.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_LIMITS } from '../../../src/device/agent/limits.ts';
import { bytesServed, makeFleet, openAgent, servedDevice } from './support.ts';

const SECTOR = 4096;
const IMAGE = /\.sihl$/;

test('a download cut half-way resumes after a reboot from the last whole sector', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const half = Math.floor(fleet.image.length / 2) + 1234;
  server.faults.cut = { match: IMAGE, at: half };

  const first = await openAgent(device);
  const cut = await first.agent.poll();
  assert.equal(cut.outcome, 'error');
  assert.equal(cut.error?.code, 'NETWORK_ERROR');
  assert.equal(
    first.agent.state.download?.written,
    half - (half % SECTOR),
    'progress: whole sectors in flash',
  );
  assert.equal(first.sim.bootState()?.phase, 'idle', 'nothing pending');

  // Power cycle: a new agent on the device as its folder holds it.
  const second = await openAgent(device);
  const resumed = await second.agent.poll();
  assert.equal(resumed.outcome, 'staged', JSON.stringify(resumed));
  const from = half - (half % SECTOR);
  const ranges = server.log.filter((s) => IMAGE.test(s.path)).map((s) => s.range);
  const next = Math.min(from + AGENT_LIMITS.pieceBytes, fleet.image.length) - 1;
  assert.ok(ranges.includes(`bytes=${from}-${next}`), `the download goes on at byte ${from}: ${ranges}`);
  const fetched = bytesServed(server, IMAGE);
  assert.ok(
    fetched >= fleet.image.length && fetched < fleet.image.length + SECTOR,
    `${fetched} bytes fetched for an image of ${fleet.image.length}`,
  );
  const boot = await second.sim.boot();
  assert.equal(boot.installed, true);
  assert.equal(boot.running.version, '7.28.0');
});

test('a device whose agent is killed mid-download resumes from the progress it saved', async () => {
  const fleet = await makeFleet();
  const { server, device } = await servedDevice(fleet);
  const half = Math.floor(fleet.image.length / 2);
  server.faults.cut = { match: IMAGE, at: half, hang: true };

  // `sihl sim device run` in its own process, killed (SIGKILL) while the server holds the download.
  const node = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url));
  const bin = fileURLToPath(new URL('../../../bin/sihl.js', import.meta.url));
  const child = spawn(node, [bin, 'sim', 'device', 'run', device.dir, '--once'], { stdio: 'ignore' });
  const exited = new Promise((done) => child.once('exit', done));
  const deadline = Date.now() + 20_000;
  const held = (s: { path: string; range?: string }) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(s.range ?? '');
    return IMAGE.test(s.path) && m !== null && Number(m[1]) <= half && half <= Number(m[2]);
  };
  while (!server.log.some(held)) {
    assert.ok(Date.now() < deadline, 'the download reached the middle');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await exited;

  const { agent, sim } = await openAgent(device);
  const saved = agent.state.download?.written ?? 0;
  assert.ok(saved > 0 && saved <= half, `progress ${saved} of ${fleet.image.length} survived the kill`);
  const before = bytesServed(server, IMAGE);
  const resumed = await agent.poll();
  assert.equal(resumed.outcome, 'staged', JSON.stringify(resumed));
  assert.equal(bytesServed(server, IMAGE) - before, fleet.image.length - saved, 'only the rest is fetched');
  assert.equal((await sim.boot()).running.version, '7.28.0');
});
