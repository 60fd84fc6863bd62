// The acceptance test of power-fail safety on a real update, Pybricks 7.27.0 → 7.28.0 of the Technic hub
// on 4 KiB sectors, signed-only and encrypted: power is cut after every flash operation of the install,
// of the boot into the trial, of the confirmation and of the revert, with the operation completed or
// torn; and two or three times in a row at random points. Every run must come back running the old or
// the new firmware byte for byte, as its boot state records, with the counter to match.
// `npm test` visits a sample of the cut points; SIHL_EXHAUSTIVE=1 (`npm run test:slow`) visits all.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PowerCut } from '../../src/device/flash/simulated-flash.ts';
import type { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import {
  bootThrough,
  EXHAUSTIVE,
  HUB,
  KINDS,
  type Kind,
  NEW,
  OLD,
  pendingDevice,
  points,
  settle,
  WitnessFlash,
} from './matrix-support.ts';
import { assertSameBytes, seeded } from './support.ts';

/** What the flash holds at a cut: the slot the boot state vouches for is whole, or the backup is. */
function assertSafeAfterCut(device: SimulatedDevice, where: string): void {
  const state = device.bootState();
  assert.ok(state, `${where}: the boot state survives the cut`);
  const backup = device.flash.read(device.layout.backup.offset, OLD.length);
  switch (state.phase) {
    case 'pending':
    case 'backup':
    case 'rejected':
      assertSameBytes(
        device.executable(OLD.length),
        OLD,
        `${where}: old firmware untouched (${state.phase})`,
      );
      break;
    case 'writing':
    case 'reverting':
      assertSameBytes(backup, OLD, `${where}: the backup holds the old firmware (${state.phase})`);
      break;
    case 'installed':
    case 'trial':
    case 'confirmed':
      assertSameBytes(device.executable(NEW.length), NEW, `${where}: new firmware (${state.phase})`);
      assertSameBytes(backup, OLD, `${where}: backup (${state.phase})`);
      break;
    case 'idle': {
      const running = state.running.version === '7.28.0' ? NEW : OLD;
      assertSameBytes(device.executable(running.length), running, `${where}: idle`);
    }
  }
}

/** Runs `step` on a copy of `from` with the power cut after operation k; checks the cut; powers on. */
async function cutDuring(
  from: SimulatedDevice,
  step: (device: SimulatedDevice) => Promise<unknown>,
  k: number,
  tear: boolean,
  where: string,
): Promise<SimulatedDevice> {
  const device = from.clone();
  device.flash.cutPower({ after: k, tear, random: seeded(k) });
  await assert.rejects(step(device), PowerCut, `${where}: the step ran into the cut`);
  device.flash.powerOn();
  assertSafeAfterCut(device, where);
  return device;
}

/** Flash operations `step` takes on a copy of `from`. */
async function operations(from: SimulatedDevice, step: (device: SimulatedDevice) => Promise<unknown>) {
  const probe = from.clone();
  const start = probe.flash.operations;
  await step(probe);
  return probe.flash.operations - start;
}

const boot = (device: SimulatedDevice) => device.boot();
const confirm = async (device: SimulatedDevice) => device.confirm();

const starts = new Map<Kind, { pending: SimulatedDevice; trial: SimulatedDevice }>();
for (const kind of KINDS) {
  const pending = await pendingDevice(kind);
  const trial = pending.clone();
  assert.equal((await trial.boot()).trial, true);
  starts.set(kind, { pending, trial });
}

for (const kind of KINDS) {
  describe(`power cuts, ${kind} image`, () => {
    const { pending, trial } = starts.get(kind) as { pending: SimulatedDevice; trial: SimulatedDevice };
    /** The phases of an update: each starts from the device as the one before leaves it. */
    const phases: [string, SimulatedDevice, (device: SimulatedDevice) => Promise<unknown>, Uint8Array][] = [
      ['install and boot into the trial', pending, boot, NEW],
      ['confirmation', trial, confirm, NEW],
      ['revert of an unconfirmed trial', trial, boot, OLD],
    ];

    test('an uninterrupted update writes nothing but the old and the new firmware into the slots', async (t) => {
      const device = pending.clone();
      const witness = new WitnessFlash(device);
      const report = await bootThrough(device, witness);
      assert.deepEqual([report.outcome, report.trial, report.intact], ['booted', true, true]);
      assert.deepEqual(witness.violations, []);
      device.confirm(); // the self-test passed
      assert.ok((await settle(device, 'uninterrupted')) === NEW, 'the new firmware runs, confirmed');
      const counts = await Promise.all(phases.map(([, from, step]) => operations(from, step)));
      t.diagnostic(`flash operations: install ${counts[0]}, confirmation ${counts[1]}, revert ${counts[2]}`);
    });

    for (const [name, from, step, settled] of phases) {
      test(`a cut at every operation of the ${name}, completed or torn, ends on old or new`, async (t) => {
        const n = await operations(from, step);
        let cases = 0;
        for (const k of points(n, 7)) {
          for (const tear of [false, true]) {
            const where = `${kind}, ${name}: cut after operation ${k} of ${n}${tear ? ', torn' : ''}`;
            const device = await cutDuring(from, step, k, tear, where);
            // A cut before the application confirmed is a trial that did not confirm: both ends are right.
            const end = await settle(device, where, step === confirm || from === pending);
            // Once its first record is whole, a confirmation holds; a torn first record leaves the trial.
            if (step === confirm && (k > 1 || !tear)) assert.equal(end, settled, `${where}: confirmed`);
            if (from === trial && step === boot)
              assert.equal(end, OLD, `${where}: a revert, once begun, ends old`);
            cases++;
          }
        }
        t.diagnostic(`${cases} cuts of ${2 * n} (${EXHAUSTIVE ? 'exhaustive' : 'sample'})`);
      });
    }

    test('two and three cuts in a row, at random points of whatever boot runs next', async (t) => {
      const first = Number(process.env.SIHL_POWER_CUT_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const runs = EXHAUSTIVE ? 200 : 12;
      t.diagnostic(`seeds ${first}..${first + runs - 1} (SIHL_POWER_CUT_SEED=${first} repeats them)`);
      for (let seed = first; seed < first + runs; seed++) {
        const random = seeded(seed);
        let device = pending;
        const plan: string[] = [];
        for (let cut = 0; cut < 2 + (seed % 2); cut++) {
          const n = await operations(device, boot);
          if (n === 0) break;
          const k = 1 + Math.floor(random() * n);
          const tear = random() < 0.5;
          plan.push(`${k}/${n}${tear ? ' torn' : ''}`);
          device = await cutDuring(device, boot, k, tear, `seed ${seed}, cuts ${plan.join(', ')}`);
        }
        await settle(device, `seed ${seed}, cuts ${plan.join(', ')}`);
      }
    });
  });
}

test('a power cut while the agent stages the update leaves the old firmware running, and staging again works', async () => {
  const pending = starts.get('encrypted')?.pending as SimulatedDevice;
  // The same device before staging: its boot state says idle, and staging is erased again by stage().
  const image = pending.flash.read(
    pending.layout.staging.offset,
    (pending.bootState()?.stagedImage ?? 0) + 184,
  );
  const length = pending.bootState()?.stagedImage ?? 0;
  const idle = pending.clone();
  idle.eraseStaging(0, idle.layout.staging.size);
  const stage = async (device: SimulatedDevice) =>
    device.stage(image.subarray(0, length), image.subarray(length));
  const n = await operations(idle, stage);
  for (const k of points(n, 5)) {
    for (const tear of [false, true]) {
      const where = `staging cut after operation ${k} of ${n}${tear ? ', torn' : ''}`;
      const device = idle.clone();
      device.flash.cutPower({ after: k, tear, random: seeded(k) });
      await assert.rejects(stage(device), PowerCut, where);
      device.flash.powerOn();
      // The pending record is the last write; a tear of it may still leave it whole.
      const pendingNow = device.bootState()?.phase === 'pending';
      if (k < n) assert.equal(pendingNow, false, `${where}: pending only once all is staged`);
      if (!pendingNow) {
        assert.ok((await settle(device, where)) === OLD, `${where}: the old firmware runs`);
        await stage(device);
      }
      assert.ok((await settle(device, where)) === NEW, `${where}: staged again, it installs`);
    }
  }
});

test(`the update of ${HUB} is a real one: the two releases differ and both fit the slot`, () => {
  assert.ok(!Buffer.from(OLD).equals(NEW));
});
