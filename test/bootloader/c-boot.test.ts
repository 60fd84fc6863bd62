// The C bootloader's boot (bootloader/core/boot.c, run by bootloader/host/boot_main.c) against the
// TypeScript bootloader on the same flash files: the power-cut matrix (a cut at every flash operation
// of the install, the trial boot, the confirmation and the revert, completed or torn), the
// staging-tamper matrix, rejections and the vectors of docs/vectors staged on a device. Each case boots
// a copy of one flash with each bootloader; they must agree outcome for outcome, reason code for reason
// code and flash byte for byte. The devices and the cut points are those of test/device/power-cut.test.ts
// and staging-tamper.test.ts (test/device/matrix-support.ts), packed with LZMA2 (the Cortex-M4's codec;
// the vectors bring Brotli). `npm test` samples the cut points and staging bytes; SIHL_EXHAUSTIVE=1 visits every one.
// tag: slow (devices made for real)
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { PowerCut } from '../../src/device/flash/simulated-flash.ts';
import {
  bootWithC,
  type CBootReport,
  cBootloader,
  replay,
  runCBoot,
} from '../../src/device/simulator/c-bootloader.ts';
import type { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import {
  EXHAUSTIVE,
  KINDS,
  type Kind,
  NEW,
  OLD,
  pendingDevice,
  points,
  settle,
  WitnessFlash,
} from '../device/matrix-support.ts';
import { assertSameBytes, seeded } from '../device/support.ts';
import { rejectionCases, vectorDevices } from './c-boot-cases.ts';
import { cToolchainMissing } from './c-host.ts';

const skip = (await cToolchainMissing()) ?? false;
const binary = skip ? '' : await cBootloader('host');
/** The same under AddressSanitizer and UBSan, for the uninterrupted boots (a finding fails the run). */
const sanitized = skip ? '' : await cBootloader('asan');
/** Cases per kind, for the report at the end. */
const counts = new Map<string, number>();
const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);
after(() => {
  if (!skip) console.log(`c-boot cases: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}`);
});

type Outcome = Omit<CBootReport, 'running'> & { running: { size: number; digest: string } };

/** What a boot said, in terms both bootloaders share; an error's code when it stopped on one. */
function outcomeOf(report: CBootReport): Outcome {
  return {
    outcome: report.outcome,
    ...(report.reason ? { reason: report.reason } : {}),
    installed: report.installed,
    trial: report.trial,
    attempts: report.attempts,
    intact: report.intact,
    running: { size: report.running.size, digest: Buffer.from(report.running.digest).toString('hex') },
  };
}

async function settled<T>(run: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PowerCut) throw error;
    return { error: (error as { code?: string }).code ?? String(error) };
  }
}

/**
 * Boots a copy of `from` with each bootloader and checks they agree: the report, the operations (as
 * many, every one compared where a cut falls) and the flash byte for byte. Returns the TypeScript copy
 * (the C one is the same bytes).
 */
async function agree(from: SimulatedDevice, where: string, program = binary): Promise<SimulatedDevice> {
  const ts = from.clone();
  const c = from.clone();
  const [before, tsReport] = [ts.flash.operations, await settled(async () => outcomeOf(await ts.boot()))];
  const cReport = await settled(async () => outcomeOf(await bootWithC(c, { binary: program })));
  assert.deepEqual(cReport, tsReport, `${where}: the C boot reports what the TypeScript boot reports`);
  assert.equal(c.flash.operations - before, ts.flash.operations - before, `${where}: flash operations`);
  assertSameBytes(c.flash.memory, ts.flash.memory, `${where}: the flashes`);
  return ts;
}

const starts = new Map<Kind, { pending: SimulatedDevice; trial: SimulatedDevice }>();
if (!skip) {
  for (const kind of KINDS) {
    const pending = await pendingDevice(kind, 'lzma2');
    const trial = pending.clone();
    assert.equal((await trial.boot()).trial, true);
    starts.set(kind, { pending, trial });
  }
}

/**
 * The points of 1..n a run visits: all of them when exhaustive; in `npm test` (about 20 s on two cores)
 * `count` of them spread evenly, from the first to the last, shifted by `shift` so the kinds differ.
 */
function sample(n: number, count: number, shift = 0): number[] {
  if (EXHAUSTIVE || n <= count) return points(n, 1);
  const picked = Array.from({ length: count }, (_, i) => 1 + Math.round((i * (n - 1)) / (count - 1)));
  return [...new Set(picked.map((k, i) => (i > 0 && i < count - 1 ? Math.min(n, k + shift) : k)))];
}

for (const kind of KINDS) {
  describe(`the C bootloader against the TypeScript one, ${kind} image`, { skip }, () => {
    const boot = (device: SimulatedDevice) => device.boot();
    const confirm = async (device: SimulatedDevice) => device.confirm();

    test('an install, the boot after it and the revert of the unconfirmed trial agree byte for byte, under ASan and UBSan', async () => {
      const { pending } = starts.get(kind) as { pending: SimulatedDevice };
      const trial = await agree(pending, `${kind}: install`, sanitized);
      const reverted = await agree(trial, `${kind}: revert`, sanitized);
      await agree(reverted, `${kind}: idle after the revert`, sanitized);
      const confirmed = trial.clone();
      confirmed.confirm();
      await agree(confirmed, `${kind}: idle after the confirmation`, sanitized);
      count('vector-like install, revert, idle');
    });

    for (const [name, phase, step] of [
      ['install and boot into the trial', 'pending', boot],
      ['confirmation', 'trial', confirm],
      ['revert of an unconfirmed trial', 'trial', boot],
    ] as const) {
      test(`a cut at every operation of the ${name}, completed or torn: the same flash at the cut, and the same next boot`, async (t) => {
        const from = (starts.get(kind) as Record<string, SimulatedDevice>)[phase] as SimulatedDevice;
        const probe = from.clone();
        const start = probe.flash.operations;
        await step(probe);
        const n = probe.flash.operations - start;
        // The C bootloader's own operations for the same boot, cut by replaying them through the
        // simulated flash: the same cut, torn by the same seeded randomness.
        const trace = step === boot ? (await runCBoot(from, { binary })).trace : undefined;
        if (trace) assert.equal(trace.length, n, `${kind}, ${name}: the C boot takes as many operations`);
        const visited = sample(n, step === confirm ? 6 : 3, kind === 'encrypted' ? 5 : 0);
        for (const k of visited) {
          for (const tear of [false, true]) {
            const where = `${kind}, ${name}: cut after operation ${k} of ${n}${tear ? ', torn' : ''}`;
            const ts = from.clone();
            ts.flash.cutPower({ after: k, tear, random: seeded(k) });
            await assert.rejects(step(ts), PowerCut, where);
            ts.flash.powerOn();
            if (trace) {
              const c = from.clone();
              c.flash.cutPower({ after: k, tear, random: seeded(k) });
              assert.throws(() => replay(c.flash, trace.slice(0, k)), PowerCut, where);
              c.flash.powerOn();
              assertSameBytes(c.flash.memory, ts.flash.memory, `${where}: the flash at the cut`);
            }
            const next = await agree(ts, `${where}, the next boot`);
            if (next.bootState()?.phase !== 'idle') await agree(next, `${where}, the boot after that`);
            count(tear ? 'torn operation' : 'power cut');
          }
        }
        t.diagnostic(`${2 * visited.length} cuts of ${2 * n} (${EXHAUSTIVE ? 'exhaustive' : 'sample'})`);
      });
    }

    test('staging changed for good before the boot, byte by byte: the same refusal or install', async (t) => {
      const { pending } = starts.get(kind) as { pending: SimulatedDevice };
      const state = pending.bootState();
      assert.ok(state);
      const length = state.stagedImage + state.stagedEnvelope;
      const image = pending.readStaging(0, state.stagedImage);
      const view = new DataView(image.buffer, image.byteOffset);
      const metadata = 32 + [8, 12, 16, 20].reduce((sum, at) => sum + view.getUint32(at, true), 0);
      // Every byte of the header, the signed parts and the envelope, every 211th of the payload; in
      // `npm test` a few of each.
      const offsets = EXHAUSTIVE
        ? Array.from({ length }, (_, at) => at).filter(
            (at) => at < metadata || at >= state.stagedImage || at % 211 === 0,
          )
        : [
            ...sample(metadata, 5, kind === 'encrypted' ? 3 : 0).map((k) => k - 1),
            ...sample(length - metadata, 3).map((k) => metadata + k - 1),
          ];
      let cases = 0;
      for (const at of offsets) {
        const device = pending.clone();
        const offset = device.layout.staging.offset + at;
        device.flash.memory[offset] = (device.flash.memory[offset] as number) ^ 0x20;
        await agree(device, `${kind}: staging byte ${at} of ${length} changed`);
        count('staging tamper');
        cases++;
      }
      t.diagnostic(`${cases} staged bytes changed (${metadata} bytes of header and signed parts)`);
    });

    test("staging changed at the C bootloader's reads, once or for good: only firmware written, ends old or new", async (t) => {
      const { pending } = starts.get(kind) as { pending: SimulatedDevice };
      const clean = await runCBoot(pending, { binary });
      const reads = clean.output.stagingReads;
      const install = clean.output.installReads ?? reads;
      assert.ok(install > 10 && install < reads, `${install} reads of the install, ${reads} in all`);
      const visited = sample(reads, 3, kind === 'encrypted' ? 2 : 0);
      for (const k of visited) {
        for (const mode of ['once', 'permanent'] as const) {
          const where = `${kind}, C read ${k} of ${reads} changed ${mode}`;
          const device = pending.clone();
          const ran = await runCBoot(device, { binary, tamper: { read: k, mode, where: 'middle' } });
          const witness = new WitnessFlash(device);
          replay(witness, ran.trace);
          assert.deepEqual(witness.violations, [], `${where}: only firmware written into the slots`);
          device.flash.memory.set(ran.flash);
          assert.equal(ran.output.result, 'OK', where);
          assert.notEqual(ran.output.outcome, 'halted', where);
          if (ran.output.trial) device.confirm(); // the new firmware's self-test passes
          const end = await settle(device, where, true, (d) => bootWithC(d, { binary }));
          assert.ok(
            end === (k <= install ? OLD : NEW),
            `${where}: ended on the ${end === NEW ? 'new' : 'old'}`,
          );
          count('staging tamper (C reads)');
        }
      }
      t.diagnostic(`${2 * visited.length} changed reads of ${reads} (${install} of the install)`);
    });
  });
}

describe('rejections and damaged state: both bootloaders refuse alike', { skip }, async () => {
  const cases = skip ? [] : await rejectionCases(starts.get('encrypted')?.pending as SimulatedDevice);
  for (const { name, device, expect } of cases) {
    test(name, async () => {
      const ts = await agree(device, name);
      assert.equal(ts.bootState()?.reason ?? '', expect, `${name}: the reason recorded`);
      count('rejection');
    });
  }
});

describe('the vectors of docs/vectors staged on a device: both bootloaders install or refuse alike', {
  skip,
}, async () => {
  // Brotli and LZMA2 alike, and a stream that fails inside an authenticated chunk
  // (lzma2-beyond-window.sihl) too: the same operations, one for one (docs/BOOT.md §Install step 10).
  for (const { name, device, brotli } of skip ? [] : await vectorDevices()) {
    test(name, async () => {
      await agree(device, name);
      count(brotli ? 'vector (Brotli)' : 'vector');
    });
  }
});
