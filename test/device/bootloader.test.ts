// The bootloader refuses every bad update before it touches the executable slot: each rejection ends
// with the slot byte-identical, the reason recorded in the boot state, staging erased and the counters
// where they were. Good updates install, and the bootloader's buffers do not grow with the image.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateBoxKeyPair } from '../../src/core/crypto/index.ts';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { bufferSource, readImage } from '../../src/core/image/index.ts';
import type { BootReport } from '../../src/device/bootloader/bootloader.ts';
import { PowerCut } from '../../src/device/flash/simulated-flash.ts';
import type { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { makeDelegation, testKey } from '../helpers.ts';
import {
  assertSameBytes,
  assertStagingErased,
  deviceRunningOld,
  envelopeFor,
  NEW,
  OLD,
  type Packed,
  type pack,
  packAs,
  randomBytes,
  seeded,
  syntheticFirmware,
  trust,
} from './support.ts';

function packFor(firmware: Uint8Array, options: Parameters<typeof pack>[1] = {}): Promise<Packed> {
  return packAs('2.0.0', firmware, options);
}

/** A device running OLD as 1.0.0, with slots of `slotSize` bytes. */
const deviceWithSlot = (slotSize: number) => deviceRunningOld('1.0.0', slotSize);

const factory = await deviceWithSlot(64 * 1024);
/** A fresh device running OLD (1.0.0), counters at zero. */
const fresh = () => factory.clone();
const good = await packFor(NEW);

function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] = (out[at] as number) ^ 0x01;
  return out;
}

/** Erases the sectors of the staging slot that hold `length` bytes, by hand. */
function eraseStaging(device: SimulatedDevice, length: number): void {
  const { staging } = device.layout;
  const { sectorSize } = device.flash.geometry;
  for (let at = 0; at < length; at += sectorSize) device.flash.erase(staging.offset + at);
}

/**
 * Boots `device` and checks a rejection for `code`: the executable slot still holds `running`, the
 * boot state is idle with the reason, staging is erased, the counters did not move.
 */
async function assertRejected(
  device: SimulatedDevice,
  code: string,
  running: Uint8Array,
): Promise<BootReport> {
  const counters = device.secureElement.trust();
  const report = await device.boot();
  assert.equal(report.outcome, 'rejected');
  assert.equal(report.reason, code);
  assert.equal(report.installed, false);
  assertSameBytes(device.executable(running.length), running, 'executable slot');
  const state = device.bootState();
  assert.equal(state?.phase, 'idle');
  assert.equal(state?.reason, code, 'the reason is recorded in the boot state');
  assertStagingErased(device);
  const after = device.secureElement.trust();
  assert.equal(after.securityCounter, counters.securityCounter, 'security counter unchanged');
  assert.equal(after.delegationVersion, counters.delegationVersion, 'delegation version unchanged');
  return report;
}

/** Installs `image` on `device`, checks that it runs on trial, and confirms it. */
async function install(device: SimulatedDevice, image: Packed, firmware: Uint8Array): Promise<BootReport> {
  device.stage(image.bytes, envelopeFor(device, image));
  const report = await device.boot();
  assert.equal(report.outcome, 'booted', report.reason);
  assert.equal(report.installed, true);
  assert.equal(report.trial, true);
  assert.equal(report.intact, true);
  assertSameBytes(device.executable(firmware.length), firmware, 'executable slot');
  device.confirm();
  return report;
}

describe('installing', () => {
  test('installs a signed, encrypted image: new firmware, counters raised, staging erased', async () => {
    const device = fresh();
    const report = await install(device, good, NEW);
    assert.equal(report.running.version, '2.0.0');
    assert.equal(report.attempts, 1);
    assert.equal(device.bootState()?.phase, 'idle');
    assertStagingErased(device);
    assert.equal(device.secureElement.trust().securityCounter, 1, 'counter equals the security version');
    assert.equal(device.secureElement.trust().delegationVersion, 1);
    const next = await device.boot();
    assert.deepEqual([next.outcome, next.installed, next.intact], ['booted', false, true]);
  });

  test('installs a signed-only image without an envelope', async () => {
    const device = fresh();
    const image = await packFor(NEW, { encrypt: false });
    assert.equal(image.contentKey, null);
    device.stage(image.bytes);
    const report = await device.boot();
    assert.equal(report.outcome, 'booted', report.reason);
    assert.equal(report.installed, true);
    assertSameBytes(device.executable(NEW.length), NEW, 'executable slot');
  });

  test('installs a smaller image over a larger one and erases the rest of the old firmware', async () => {
    const device = fresh();
    const small = syntheticFirmware(10_000, 3);
    await install(device, await packFor(small), small);
    const tail = device.flash.read(device.layout.executable.offset + 12 * 1024, OLD.length - 12 * 1024);
    assert.ok(
      tail.every((b) => b === 0xff),
      'no sector of the old firmware is left behind',
    );
  });
});

describe('rejections, each ending with the executable slot byte-identical and a recorded reason', () => {
  const cases: [string, string, (device: SimulatedDevice) => Promise<void>][] = [
    [
      'a signature that does not verify',
      'SIGNATURE_INVALID',
      async (device) => {
        const { payloadOffset } = await readImage(bufferSource(good.bytes));
        device.stage(flipByte(good.bytes, payloadOffset - 1), envelopeFor(device, good));
      },
    ],
    [
      'an image signed by one approver fewer than the threshold',
      'SIGNATURE_THRESHOLD',
      async (device) => {
        const image = await packFor(NEW, { signers: trust.approvers.slice(0, 1) });
        device.stage(image.bytes, envelopeFor(device, image));
      },
    ],
    [
      'an image whose delegation is signed by a root the device does not pin',
      'SIGNATURE_UNKNOWN_KEY',
      async (device) => {
        const delegation = makeDelegation([testKey('mallory')], trust.approvers);
        const image = await packFor(NEW, { delegation });
        device.stage(image.bytes, envelopeFor(device, image));
      },
    ],
    [
      'an image for another model',
      'MODEL_MISMATCH',
      async (device) => {
        const image = await packFor(NEW, { model: 'other-hub' });
        device.stage(image.bytes, envelopeFor(device, image));
      },
    ],
    [
      'a tampered payload',
      'PAYLOAD_DIGEST_MISMATCH',
      async (device) => {
        device.stage(flipByte(good.bytes, good.bytes.length - 200), envelopeFor(device, good));
      },
    ],
    [
      'a truncated staged image',
      'IMAGE_TRUNCATED',
      async (device) => {
        device.stage(good.bytes.subarray(0, good.bytes.length - 100), envelopeFor(device, good));
      },
    ],
    [
      'an envelope sealed to another device',
      'ENVELOPE_WRONG_RECIPIENT',
      async (device) => {
        const other = generateBoxKeyPair().publicKey;
        const envelope = sealEnvelope(
          good.contentKey as Uint8Array,
          streamBinding(good.manifestBytes),
          other,
        );
        device.stage(good.bytes, envelope);
      },
    ],
    [
      "an envelope for this device but another image's key",
      'ENVELOPE_WRONG_IMAGE',
      async (device) => {
        const other = await packFor(NEW);
        device.stage(good.bytes, envelopeFor(device, other));
      },
    ],
    [
      'an encrypted image staged without its envelope',
      'ENVELOPE_REQUIRED',
      async (device) => {
        device.stage(good.bytes);
      },
    ],
    [
      'an update marked pending whose staging slot was erased',
      'IMAGE_BAD_MAGIC',
      async (device) => {
        device.stage(good.bytes, envelopeFor(device, good));
        eraseStaging(device, good.bytes.length);
      },
    ],
    [
      'an update marked pending whose staging slot holds garbage',
      'IMAGE_BAD_MAGIC',
      async (device) => {
        device.stage(good.bytes, envelopeFor(device, good));
        const length = Math.ceil(good.bytes.length / 4096) * 4096;
        eraseStaging(device, length);
        device.flash.write(device.layout.staging.offset, randomBytes(length, seeded(11)));
      },
    ],
  ];

  for (const [name, code, stage] of cases) {
    test(`refuses ${name} (${code})`, async () => {
      const device = fresh();
      await stage(device);
      assert.equal(device.bootState()?.phase, 'pending');
      await assertRejected(device, code, OLD);
      const next = await device.boot();
      assert.equal(next.outcome, 'booted', 'the next boot starts the old firmware normally');
      assert.equal(next.intact, true);
      assert.equal(next.running.version, '1.0.0');
    });
  }

  test('refuses an image whose chunks are larger than the bootloader can buffer (LIMIT_EXCEEDED)', async () => {
    const device = fresh();
    const wide = await packFor(NEW, { chunkSize: 128 * 1024 });
    device.stage(wide.bytes, envelopeFor(device, wide));
    await assertRejected(device, 'LIMIT_EXCEEDED', OLD);
  });

  test('refuses to install while the secure element has lost its counters (SECURE_ELEMENT_DAMAGED)', async () => {
    const device = fresh();
    const { secureElement } = device.layout;
    const { sectorSize } = device.flash.geometry;
    // The counter log is the secure element's last two sectors: erasing them must not reset anything.
    device.flash.erase(secureElement.offset + sectorSize);
    device.flash.erase(secureElement.offset + 2 * sectorSize);
    device.stage(good.bytes, envelopeFor(device, good));
    const report = await device.boot();
    assert.equal(report.outcome, 'rejected');
    assert.equal(report.reason, 'SECURE_ELEMENT_DAMAGED');
    assertSameBytes(device.executable(OLD.length), OLD, 'executable slot');
  });

  test('refuses an image below the security counter (SECURITY_VERSION_ROLLBACK)', async () => {
    const device = fresh();
    await install(device, await packFor(NEW, { securityVersion: 2 }), NEW);
    assert.equal(device.secureElement.trust().securityCounter, 2);
    const older = await packFor(OLD, { version: '1.0.1', securityVersion: 1 });
    device.stage(older.bytes, envelopeFor(device, older));
    await assertRejected(device, 'SECURITY_VERSION_ROLLBACK', NEW);
    assert.equal(device.secureElement.trust().securityCounter, 2, 'the counter never goes down');
  });

  test('accepts an image at the security counter, and never lowers it', async () => {
    const device = fresh();
    await install(device, await packFor(NEW, { securityVersion: 2 }), NEW);
    const same = syntheticFirmware(30_000, 4);
    await install(device, await packFor(same, { version: '2.0.1', securityVersion: 2 }), same);
    assert.equal(device.secureElement.trust().securityCounter, 2);
  });

  test('refuses an image with an older delegation than one installed before (DELEGATION_ROLLBACK)', async () => {
    const device = fresh();
    const delegation = makeDelegation(trust.roots, trust.approvers, { version: 2 });
    await install(device, await packFor(NEW, { delegation }), NEW);
    assert.equal(device.secureElement.trust().delegationVersion, 2);
    const older = await packFor(OLD, { version: '2.0.1', securityVersion: 1 });
    device.stage(older.bytes, envelopeFor(device, older));
    await assertRejected(device, 'DELEGATION_ROLLBACK', NEW);
    assert.equal(device.secureElement.trust().delegationVersion, 2);
  });

  test('garbage over the boot-state area is BOOT_STATE_CORRUPT and leaves the executable slot alone', async () => {
    const device = fresh();
    device.stage(good.bytes, envelopeFor(device, good));
    const { bootState } = device.layout;
    const { sectorSize } = device.flash.geometry;
    for (let at = 0; at < bootState.size; at += sectorSize) device.flash.erase(bootState.offset + at);
    device.flash.write(bootState.offset, randomBytes(bootState.size, seeded(5)));
    assert.equal(device.bootState(), null);
    const report = await device.boot();
    assert.equal(report.outcome, 'rejected');
    assert.equal(report.reason, 'BOOT_STATE_CORRUPT');
    assertSameBytes(device.executable(OLD.length), OLD, 'executable slot');
    assert.equal(device.bootState()?.phase, 'idle');
    assert.equal(device.bootState()?.reason, 'BOOT_STATE_CORRUPT');
    assertStagingErased(device);
    assert.equal(device.secureElement.trust().securityCounter, 0);
    assert.equal((await device.boot()).outcome, 'booted', 'the next boot starts normally');
    // The device no longer knows what it runs, but a new update still installs.
    await install(device, good, NEW);
  });
});

describe('power cuts during a rejection', () => {
  test('a cut at any operation of a rejection still ends with the old firmware and the reason recorded', async () => {
    const device = fresh();
    device.stage(flipByte(good.bytes, 40), envelopeFor(device, good)); // in the manifest
    const probe = device.clone();
    const start = probe.flash.operations;
    await assertRejected(probe, 'SIGNATURE_INVALID', OLD);
    const operations = probe.flash.operations - start;
    assert.ok(
      operations >= 3,
      `a rejection writes the state, erases staging, writes the state (${operations})`,
    );
    for (let k = 1; k <= operations; k++) {
      for (const tear of [false, true]) {
        const where = `cut after operation ${k} of ${operations}${tear ? ', torn' : ''}`;
        const run = device.clone();
        run.flash.cutPower({ after: k, tear, random: seeded(k) });
        await assert.rejects(run.boot(), PowerCut, where);
        assertSameBytes(run.executable(OLD.length), OLD, `${where}: executable slot`);
        run.flash.powerOn();
        const report = await run.boot();
        // Once the final record is written the rejection is complete: the next boot is an ordinary one.
        const finished = k === operations && !tear;
        assert.equal(report.outcome, finished ? 'booted' : 'rejected', where);
        if (!finished) assert.equal(report.reason, 'SIGNATURE_INVALID', where);
        assert.equal(report.intact, true, where);
        assertSameBytes(run.executable(OLD.length), OLD, `${where}: executable slot`);
        assert.equal(run.bootState()?.phase, 'idle', where);
        assert.equal(run.bootState()?.reason, 'SIGNATURE_INVALID', where);
        assertStagingErased(run);
      }
    }
  });
});

describe('capacity', () => {
  test('a device holds an update of incompressible firmware as large as its slot', async () => {
    const size = 4 << 20;
    const device = await deviceWithSlot(size);
    const firmware = randomBytes(size, seeded(3));
    const image = await packFor(firmware, { quality: 5 });
    device.stage(image.bytes, envelopeFor(device, image));
    const report = await device.boot();
    assert.equal(report.outcome, 'booted', report.reason);
    assertSameBytes(device.executable(size), firmware, 'executable slot');
  });
});

describe('memory', () => {
  test("the bootloader's buffer high-water mark is the same for a 1 MiB and a 16 MiB image", async () => {
    const marks: number[] = [];
    for (const size of [1 << 20, 16 << 20]) {
      const firmware = syntheticFirmware(size, size);
      const device = await deviceWithSlot(size);
      const image = await packFor(firmware, { quality: 5 });
      device.stage(image.bytes, envelopeFor(device, image));
      const report = await device.boot();
      assert.equal(report.outcome, 'booted', report.reason);
      assert.equal(report.intact, true);
      assertSameBytes(device.executable(size), firmware, `${size}-byte firmware`);
      marks.push(report.highWater);
    }
    const [small = 0, large = 0] = marks;
    assert.equal(large, small, `high-water marks ${marks.join(' and ')}`);
    assert.ok(large > 0 && large < 64 * 1024, `high-water mark ${large} is under 64 KiB`);
  });
});
