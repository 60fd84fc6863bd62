// Issue 5's acceptance, end to end over real HTTPS on 127.0.0.1: a workspace made through the CLI, three
// devices on Pybricks 7.27.0, 7.28.0 approved by two people and published, `sihl serve`, and the devices'
// update agents. One device's connection is cut half-way through the image: after a reboot it fetches
// only the rest. One loses power in the middle of its install: the bootloader repeats it. Then
// `sihl fleet status` shows all three on 7.28.0.
// tag: slow (a workspace, three devices and sihl serve made for real)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { serve } from '../../src/cli/commands/serve.ts';
import { UpdateAgent } from '../../src/device/agent/agent.ts';
import { PowerCut } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { ok, PASSPHRASE } from '../support/cli.ts';
import { world } from '../support/world.ts';

const SECTOR = 4096;
const ws = ['--workspace', 'acme'];

/** A TCP relay in front of the server that can go down (open connections dropped, new ones refused). */
async function relay(port: number): Promise<{ url: string; cut(): void; restore(): void }> {
  const open = new Set<Socket>();
  let down = false;
  const server = createServer((inbound) => {
    if (down) {
      inbound.destroy();
      return;
    }
    const outbound = connect(port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  after(() => {
    for (const s of open) s.destroy();
    return new Promise((closed) => server.close(closed));
  });
  const address = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${address.port}/`,
    cut: () => {
      down = true;
      for (const s of open) s.destroy();
    },
    restore: () => {
      down = false;
    },
  };
}

test('three devices update 7.27.0 → 7.28.0 through sihl serve: one resumes a cut download, one repeats a cut install', async (t) => {
  // hub-1 has its download cut, hub-2 its install; hub-3 updates plainly.
  const fleet = await world()
    .withDevicesRunning('7.27.0', 3)
    .withReleasePublished('7.28.0', { rollout: 100 })
    .build();
  const { cwd } = fleet;
  const firmware = new Uint8Array(await readFile(join(cwd, 'new.bin')));
  const image = await readFile(join(cwd, 'acme', 'releases', 'movehub-7.28.0', 'image.sihl'));

  // `sihl serve --port 0`, in this process: the command returns once it listens.
  // From the online folder: `sihl serve` refuses a folder that holds root or approver keys.
  await ok(cwd, ['online', 'create', 'online', ...ws]);
  const server = await serve.run({ port: '0', workspace: 'online' }, [], {
    cwd,
    env: { SIHL_PASSPHRASE: PASSPHRASE },
  });
  after(() => server.stop());
  const network = await relay(server.port);

  const devices = [];
  for (const [n, device] of fleet.devices.entries()) {
    const url = n === 0 ? network.url : `${server.url}/`;
    await ok(cwd, [
      'sim',
      'device',
      'configure',
      device.dir,
      '--server',
      url,
      '--certificate',
      server.certificate,
      '--root',
      'acme/store/metadata/1.root.json',
      '--index',
      String(device.idx),
    ]);
    devices.push(device.dir);
  }

  /** Powers a device on from its folder (as after a reboot), with its agent; its flash is saved as it goes. */
  const powerOn = async (dir: string, onProgress?: (done: number, total: number) => void) => {
    const sim = await SimulatedDevice.load(dir);
    const agent = await UpdateAgent.open({
      dir,
      device: sim,
      durable: () => sim.save(dir),
      ...(onProgress ? { onProgress } : {}),
    });
    after(() => agent.close());
    const boot = await sim.boot();
    await sim.save(dir);
    await agent.reportBoot(boot);
    return { sim, agent };
  };

  // 1. The network drops half-way through the image; the device reboots and goes on where it stopped.
  const [cutDir, powerDir, plainDir] = devices as [string, string, string];
  let cut = false;
  const first = await powerOn(cutDir, (done, total) => {
    if (!cut && done >= total / 2) {
      cut = true;
      network.cut();
    }
  });
  const dropped = await first.agent.poll();
  assert.equal(dropped.outcome, 'error', JSON.stringify(dropped));
  assert.equal(dropped.error?.code, 'NETWORK_ERROR');
  const kept = first.agent.state.download?.written ?? 0;
  assert.ok(kept >= image.length / 2 - SECTOR && kept < image.length, `${kept} bytes kept in staging`);
  assert.equal(kept % SECTOR, 0, 'whole sectors only');
  first.agent.close();
  network.restore();
  const second = await powerOn(cutDir);
  const resumed = await second.agent.poll();
  assert.equal(resumed.outcome, 'staged', JSON.stringify(resumed));
  // The second attempt fetches the rest of the image (plus small metadata), not the whole image again.
  assert.ok(resumed.bytes >= image.length - kept, `${resumed.bytes} bytes on resume`);
  assert.ok(resumed.bytes < image.length - kept + 8192, `${resumed.bytes} bytes on resume`);
  t.diagnostic(
    `image ${image.length} bytes; cut after ${kept} in flash; resumed with ${resumed.bytes} bytes (metadata included)`,
  );
  const installed = await second.sim.boot();
  assert.equal(installed.installed, true);
  await second.agent.reportBoot(installed);

  // 2. Power fails in the middle of the install; at the next boot the bootloader installs again.
  const victim = await powerOn(powerDir);
  assert.equal((await victim.agent.poll()).outcome, 'staged');
  victim.sim.flash.cutPower({ after: 30, tear: true });
  await assert.rejects(victim.sim.boot(), PowerCut);
  victim.sim.flash.powerOn();
  const repeated = await victim.sim.boot();
  assert.equal(repeated.installed, true);
  assert.equal(repeated.attempts, 2);
  await victim.agent.reportBoot(repeated);

  // 3. Nothing in the way.
  const plain = await powerOn(plainDir);
  assert.equal((await plain.agent.poll()).outcome, 'staged');
  const done = await plain.sim.boot();
  assert.equal(done.installed, true);
  await plain.agent.reportBoot(done);

  for (const device of [second, victim, plain])
    assert.deepEqual(device.sim.executable(firmware.length), firmware, 'the new firmware runs');

  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...ws]));
  assert.deepEqual(
    status.devices.map((d: { running: string; lastOutcome: string }) => [d.running, d.lastOutcome]),
    [
      ['7.28.0', 'installed'],
      ['7.28.0', 'installed'],
      ['7.28.0', 'installed'],
    ],
  );
  assert.deepEqual(
    status.devices.map((d: { attempts: number }) => d.attempts),
    [1, 2, 1],
  );
  assert.equal(status.releases.length, 1);
  assert.equal(status.releases[0].version, '7.28.0');
  assert.equal(status.releases[0].running, 3);
  assert.deepEqual(status.flagged, []);
});
