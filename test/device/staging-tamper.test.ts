// The staging flash is untrusted: an attacker on its bus changes what the bootloader reads, at every
// read of the install, once (that read only) or permanently (the chip's contents from then on), in
// the first, a middle and the last byte read, for signed-only and encrypted images. Every run must
// end on the old or the new firmware byte for byte, and no byte that is not the new firmware (or the
// old one, going back) may ever be written into the executable slot.
// `npm test` flips the middle byte of each read; SIHL_EXHAUSTIVE=1 also the first and the last.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainPieces } from '../../src/core/image/chain-pass.ts';
import type { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import {
  bootThrough,
  EXHAUSTIVE,
  KINDS,
  type Kind,
  NEW,
  OLD,
  pendingDevice,
  recorded,
  settle,
  WitnessFlash,
} from './matrix-support.ts';
import { assertSameBytes } from './support.ts';

const starts = new Map<Kind, SimulatedDevice>();
for (const kind of KINDS) starts.set(kind, await pendingDevice(kind));

type Mode = 'once' | 'permanently';
type Where = 'first' | 'middle' | 'last';
const WHERE: readonly Where[] = EXHAUSTIVE ? ['first', 'middle', 'last'] : ['middle'];

/** Boots `from` with the k-th staging read changed; returns what ran afterwards and what was seen. */
async function tamperedBoot(from: SimulatedDevice, k: number, mode: Mode, where: Where) {
  const device = from.clone();
  const flash = new WitnessFlash(device);
  flash.tamper = (read, offset, bytes) => {
    if (read !== k) return;
    const at = where === 'first' ? 0 : where === 'last' ? bytes.length - 1 : bytes.length >> 1;
    bytes[at] = (bytes[at] as number) ^ 0x20;
    // Permanently: the chip itself now holds the changed byte, for every later read.
    if (mode === 'permanently') device.flash.memory[offset + at] = bytes[at] as number;
  };
  const report = await bootThrough(device, flash);
  return { device, flash, report };
}

for (const kind of KINDS) {
  test(`staging changed at every read of an install of a ${kind} image never gets a byte of it run`, async (t) => {
    const from = starts.get(kind) as SimulatedDevice;
    const { flash: clean } = await tamperedBoot(from, 0, 'once', 'middle');
    const reads = clean.stagingReads;
    const install = clean.installReads ?? reads;
    assert.ok(
      install > 10 && install < reads,
      `${install} reads of the install, ${reads} with erasing staging`,
    );
    const ends = { old: 0, new: 0 };
    let cases = 0;
    for (let k = 1; k <= reads; k++) {
      for (const mode of ['once', 'permanently'] as const) {
        for (const where of WHERE) {
          const label = `${kind}, read ${k} of ${reads} changed ${mode} (${where} byte)`;
          const { device, flash, report } = await tamperedBoot(from, k, mode, where);
          assert.deepEqual(flash.violations, [], `${label}: only firmware written into the slots`);
          assert.notEqual(report.outcome, 'halted', label);
          const running = recorded(device);
          assertSameBytes(device.executable(running.length), running, `${label}: executable slot`);
          if (report.trial) device.confirm(); // the new firmware's self-test passes
          const end = await settle(device, label);
          // A change in a read of the install is refused; one after it (erasing staging) changes nothing.
          assert.ok(
            end === (k <= install ? OLD : NEW),
            `${label}: ended on the ${end === NEW ? 'new' : 'old'}`,
          );
          if (end === NEW) ends.new++;
          else ends.old++;
          cases++;
        }
      }
    }
    t.diagnostic(
      `${cases} cases over ${reads} reads (${install} of the install, every change refused: ${ends.old} ended ` +
        `on the old firmware; ${reads - install} while erasing staging after it: ${ends.new} on the new)`,
    );
  });
}

test("an attacker's own chained stream written over the signed-only payload is refused before any of it is written", async () => {
  const from = starts.get('signed-only') as SimulatedDevice;
  const device = from.clone();
  const state = device.bootState();
  assert.ok(state);
  const { staging } = device.layout;
  const image = device.flash.read(staging.offset, state.stagedImage);
  const payloadLength = Number(new DataView(image.buffer, image.byteOffset).getBigUint64(24, true));
  // Pieces of the attacker's choosing, chained correctly: only the signed head cannot be forged.
  const pieces = [
    new Uint8Array(16 * 1024).fill(0x41),
    new Uint8Array(payloadLength - 16 * 1024 - 32).fill(0x42),
  ];
  const { payload } = chainPieces(pieces);
  assert.equal(payload.length, payloadLength);
  const flash = new WitnessFlash(device);
  let swapped = false;
  flash.tamper = (_read, offset) => {
    // As soon as the bootloader reaches the payload, the chip answers with the attacker's stream.
    if (swapped || offset < staging.offset + state.stagedImage - payloadLength) return;
    device.flash.memory.set(payload, staging.offset + state.stagedImage - payloadLength);
    swapped = true;
  };
  const report = await bootThrough(device, flash);
  assert.deepEqual([report.outcome, report.reason], ['rejected', 'PAYLOAD_DIGEST_MISMATCH']);
  assert.deepEqual(flash.violations, []);
  assertSameBytes(device.executable(OLD.length), OLD, 'the old firmware runs');
});
