// The acceptance test of power-fail safety on a real update: Pybricks 7.27.0 → 7.28.0 of the Technic
// hub, 4 KiB sectors. Power is cut after every flash operation of the install, with and without tearing
// that operation; the device must always come back running the old or the new firmware, byte for byte,
// and finish on the new one with its staging slot erased.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../src/core/crypto/hash.ts';
import { isSihlError } from '../../src/core/errors.ts';
import { PowerCut } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import {
  assertSameBytes,
  assertStagingErased,
  envelopeFor,
  pack,
  pybricksFirmware,
  seeded,
  trust,
} from './support.ts';

const HUB = 'technichub';
const OLD = await pybricksFirmware('pybricks-firmware-previous', HUB);
const NEW = await pybricksFirmware('@pybricks/firmware', HUB);
const image = await pack(NEW, { model: HUB, version: '7.28.0', securityVersion: 1 });

const factory = await SimulatedDevice.create({
  model: HUB,
  root: trust.root,
  firmware: OLD,
  version: '7.27.0',
  sectorSize: 4096,
  writeSize: 8,
});
factory.stage(image.bytes, envelopeFor(factory, image));
/** The device with 7.28.0 staged and pending: every run starts from a copy of it. */
const base = factory.clone();

/** Flash operations of an uninterrupted boot that installs the update. */
function measure(device: SimulatedDevice): Promise<number> {
  const probe = device.clone();
  const start = probe.flash.operations;
  return probe.boot().then(() => probe.flash.operations - start);
}
const N = await measure(base);

/** Boots until the power cut the flash is armed with; fails if the boot gets through. */
async function bootIntoCut(device: SimulatedDevice, where: string): Promise<void> {
  await assert.rejects(device.boot(), PowerCut, `${where}: the boot ran into the power cut`);
}

/**
 * What the flash holds when power is lost must never be a state the bootloader would start as is with
 * a half-written image: unless an install is under way, the executable slot holds exactly the firmware
 * the boot state says it runs.
 */
function assertSafeAfterCut(device: SimulatedDevice, where: string): void {
  const state = device.bootState();
  assert.ok(state, `${where}: the boot state survives the cut`);
  assert.ok(state.phase !== 'rejected', `${where}: the update was refused (${state.reason})`);
  if (state.phase === 'installing') return; // the next boot installs again from staging
  const expected = state.phase === 'installed' || state.running.version === '7.28.0' ? NEW : OLD;
  if (state.phase === 'idle' || state.phase === 'installed')
    assert.deepEqual(state.running.digest, sha256(expected), `${where}: the recorded digest`);
  assertSameBytes(device.executable(expected.length), expected, `${where}: executable slot (${state.phase})`);
}

/** The end every run must reach: 7.28.0 running, intact, counted, staging erased. */
async function assertUpdated(device: SimulatedDevice, where: string): Promise<void> {
  const report = await device.boot();
  assert.equal(report.outcome, 'booted', `${where}: outcome (${report.reason ?? ''})`);
  assert.equal(report.running.version, '7.28.0', where);
  assert.equal(report.intact, true, `${where}: intact`);
  assertSameBytes(device.executable(NEW.length), NEW, `${where}: executable slot`);
  const state = device.bootState();
  assert.equal(state?.phase, 'idle', where);
  assert.equal(state?.reason, '', where);
  assertStagingErased(device);
  assert.equal(device.secureElement.trust().securityCounter, 1, `${where}: security counter`);
}

test('an uninterrupted update installs 7.28.0 and measures the operations of an install', async (t) => {
  assert.ok(!Buffer.from(OLD).equals(NEW), 'the two releases differ');
  assert.ok(N > 2 * Math.ceil(NEW.length / 4096), `N = ${N}: every sector of the slot is erased and written`);
  t.diagnostic(`${HUB} ${OLD.length} → ${NEW.length} bytes; an install is N = ${N} flash operations`);
  console.log(`power-cut: N = ${N} flash operations for ${HUB} 7.27.0 → 7.28.0`);
  const device = base.clone();
  assertSafeAfterCut(device, 'before the boot');
  await assertUpdated(device, 'uninterrupted');
  const again = await device.boot();
  assert.equal(again.installed, false, 'a second boot installs nothing');
  assert.equal(again.intact, true);
});

test('exhaustive power cuts on a Pybricks 7.27.0 → 7.28.0 update: every k in 1..N, completed or torn', async (t) => {
  let cases = 0;
  for (let k = 1; k <= N; k++) {
    for (const tear of [false, true]) {
      const where = `cut after operation ${k} of ${N}${tear ? ', torn' : ''}`;
      const device = base.clone();
      device.flash.cutPower({ after: k, tear, random: seeded(k) });
      await bootIntoCut(device, where);
      assertSafeAfterCut(device, where);
      device.flash.powerOn();
      await assertUpdated(device, where);
      cases++;
    }
  }
  assert.equal(cases, 2 * N);
  t.diagnostic(`${cases} cut points, each followed by a clean boot`);
});

test('repeated power cuts during the repeated install: two and three cuts in a row at random points', async (t) => {
  const first = Number(process.env.SIHL_POWER_CUT_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seeds ${first}..${first + 29} (set SIHL_POWER_CUT_SEED=${first} to repeat)`);
  console.log(`power-cut: random cuts from seed ${first} (SIHL_POWER_CUT_SEED)`);
  for (let seed = first; seed < first + 30; seed++) {
    const random = seeded(seed);
    const device = base.clone();
    const cuts = 2 + (seed % 2);
    const plan: string[] = [];
    for (let cut = 1; cut <= cuts; cut++) {
      // A point inside the boot that would run now, however far the earlier cuts got.
      const operations = await measure(device);
      if (operations === 0) break;
      const k = 1 + Math.floor(random() * operations);
      const tear = random() < 0.5;
      plan.push(`${k}/${operations}${tear ? ' torn' : ''}`);
      const where = `seed ${seed}, cuts ${plan.join(', ')}`;
      device.flash.cutPower({ after: k, tear, random });
      await bootIntoCut(device, where);
      assertSafeAfterCut(device, where);
      device.flash.powerOn();
    }
    await assertUpdated(device, `seed ${seed}, cuts ${plan.join(', ')}`);
  }
});

test('a power cut while the agent stages the update leaves the old firmware running, and staging again works', async () => {
  // A device before staging (the factory device above has the update staged already).
  const idle = await SimulatedDevice.create({
    model: HUB,
    root: trust.root,
    firmware: OLD,
    version: '7.27.0',
    sectorSize: 4096,
  });
  const envelope = envelopeFor(idle, image);
  const probe = idle.clone();
  const start = probe.flash.operations;
  probe.stage(image.bytes, envelope);
  const operations = probe.flash.operations - start;
  for (let k = 1; k <= operations; k++) {
    for (const tear of [false, true]) {
      const where = `staging cut after operation ${k} of ${operations}${tear ? ', torn' : ''}`;
      const device = idle.clone();
      device.flash.cutPower({ after: k, tear, random: seeded(k) });
      assert.throws(() => device.stage(image.bytes, envelope), PowerCut, where);
      device.flash.powerOn();
      // The pending record is the last write; a tear of it may still leave it whole.
      const pending = device.bootState()?.phase === 'pending';
      if (k < operations) assert.equal(pending, false, `${where}: pending only once all is staged`);
      if (k === operations && !tear) assert.equal(pending, true, where);
      if (!pending) {
        const report = await device.boot();
        assert.equal(report.outcome, 'booted', where);
        assert.equal(report.running.version, '7.27.0', where);
        assert.equal(report.intact, true, where);
        assertSameBytes(device.executable(OLD.length), OLD, `${where}: executable slot`);
        if (k % 10 !== 0) continue; // staging again is the same every time: check some of them
        device.stage(image.bytes, envelope);
      }
      await assertUpdated(device, where);
    }
  }
});

test('staging a new update is refused while an interrupted install is still to be finished', async () => {
  const device = base.clone();
  device.flash.cutPower({ after: Math.floor(N / 2), tear: false });
  await bootIntoCut(device, 'half-way through the install');
  device.flash.powerOn();
  assert.equal(device.bootState()?.phase, 'installing');
  // Were this staged, the next boot would refuse it with the executable slot half written.
  const tampered = image.bytes.slice();
  tampered[tampered.length - 100] = (tampered[tampered.length - 100] as number) ^ 1;
  assert.throws(
    () => device.stage(tampered, envelopeFor(device, image)),
    (e: unknown) => isSihlError(e) && e.code === 'USAGE',
    'stage() refuses until the device has booted',
  );
  await assertUpdated(device, 'after the refused staging');
});
