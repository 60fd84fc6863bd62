// New firmware runs on trial until the application confirms it; an unconfirmed trial is reverted at the
// next boot and reported. Counters and a newly pinned root rise only on confirmation. Versions only rise
// unless approvers signed a downgrade. The boot state binds the bootloader to the image the agent
// verified, and a record the device did not write (a forged sequence 0xFFFFFFFF) changes nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { ByteWriter } from '../../src/core/format/bytes.ts';
import { encodeRootChain, makeRootStatement } from '../../src/core/format/root-chain.ts';
import { signEntry } from '../../src/core/format/signatures.ts';
import { BOOT_RECORD_BYTES, encodeBootState, idle } from '../../src/device/bootloader/boot-state.ts';
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
  trust,
} from './support.ts';

const factory = await deviceRunningOld('2.0.0');
const packFor = (firmware: Uint8Array, options: Parameters<typeof pack>[1] = {}) =>
  packAs('2.1.0', firmware, options);
const good = await packFor(NEW);

async function installOnTrial(device: SimulatedDevice, image: Packed, firmware: Uint8Array) {
  device.stage(image.bytes, envelopeFor(device, image));
  const report = await device.boot();
  assert.deepEqual([report.outcome, report.installed, report.trial], ['booted', true, true], report.reason);
  assertSameBytes(device.executable(firmware.length), firmware, 'executable slot on trial');
  return report;
}

describe('trial, confirmation, revert', () => {
  test('new firmware runs on trial; once confirmed it stays, and only then the security counter rises', async () => {
    const device = factory.clone();
    await installOnTrial(device, good, NEW);
    assert.equal(device.bootState()?.phase, 'trial');
    assertStagingErased(device);
    assert.equal(device.secureElement.trust().securityCounter, 0, 'no counter moves on trial');
    device.confirm();
    assert.equal(device.bootState()?.phase, 'idle');
    assert.equal(device.secureElement.trust().securityCounter, 1, 'the counter rises on confirmation');
    const next = await device.boot();
    assert.deepEqual([next.outcome, next.trial, next.intact], ['booted', false, true]);
    assertSameBytes(device.executable(NEW.length), NEW, 'the confirmed firmware stays');
  });

  test('a trial not confirmed by the next boot is reverted byte for byte and reported as REVERTED', async () => {
    const device = factory.clone();
    await installOnTrial(device, good, NEW);
    const report = await device.boot(); // crash, watchdog or power cut before the self-test confirmed
    assert.equal(report.outcome, 'reverted');
    assert.equal(report.reason, 'TRIAL_NOT_CONFIRMED');
    assert.equal(report.running.version, '2.0.0');
    assert.equal(report.intact, true);
    assertSameBytes(device.executable(OLD.length), OLD, 'the old firmware is back');
    const tail = device.flash.read(device.layout.executable.offset + 40 * 1024, 8 * 1024);
    assert.ok(
      tail.every((b) => b === 0xff),
      'nothing of the new firmware is left past the old one',
    );
    assert.equal(device.secureElement.trust().securityCounter, 0, 'the counter did not move');
    assert.throws(() => device.confirm(), /nothing is on trial/, 'a reverted trial cannot be confirmed');
    assert.equal((await device.boot()).outcome, 'booted', 'the boot after a revert is an ordinary one');
  });

  test('a newer root that the image led to is pinned on confirmation, not on trial or revert', async () => {
    const rotated = testKey('root-2');
    const statement = makeRootStatement({ version: 2, threshold: 1, keys: [rotated.publicKey] }, (m) => ({
      previous: trust.roots.map((r) => signEntry(r.secretKey, r.publicKey, m)),
      own: [signEntry(rotated.secretKey, rotated.publicKey, m)],
    }));
    const image = await packFor(NEW, {
      delegation: makeDelegation([rotated], trust.approvers),
      rootChain: encodeRootChain([statement]),
    });
    const reverted = factory.clone();
    await installOnTrial(reverted, image, NEW);
    assert.equal(reverted.secureElement.trust().rootVersion, 1, 'on trial');
    assert.equal((await reverted.boot()).outcome, 'reverted');
    assert.equal(reverted.secureElement.trust().rootVersion, 1, 'after a revert');
    const confirmed = factory.clone();
    await installOnTrial(confirmed, image, NEW);
    confirmed.confirm();
    assert.equal(confirmed.secureElement.trust().rootVersion, 2, 'after confirmation');
    assert.deepEqual(confirmed.secureElement.trust().root.keys, [rotated.publicKey]);
  });
});

describe('versions only rise', () => {
  test('2.0.0 → 1.5.0 is refused (VERSION_ROLLBACK), and so is the same version again', async () => {
    for (const version of ['1.5.0', '2.0.0']) {
      const device = factory.clone();
      const older = await packFor(OLD, { version, securityVersion: 0 });
      device.stage(older.bytes, envelopeFor(device, older));
      const report = await device.boot();
      assert.deepEqual([report.outcome, report.reason], ['rejected', 'VERSION_ROLLBACK'], version);
      assertSameBytes(device.executable(OLD.length), OLD, 'executable slot');
    }
  });

  test('2.0.0 → 1.5.0 installs when the approvers signed it as a downgrade', async () => {
    const device = factory.clone();
    const downgrade = await packFor(NEW, { version: '1.5.0', securityVersion: 0, downgrade: true });
    await installOnTrial(device, downgrade, NEW);
    assert.equal(device.bootState()?.running.version, '1.5.0');
  });

  test('a signed downgrade still cannot go below the security counter', async () => {
    const device = factory.clone();
    await installOnTrial(device, await packFor(NEW, { securityVersion: 3 }), NEW);
    device.confirm();
    const downgrade = await packFor(OLD, { version: '1.5.0', securityVersion: 2, downgrade: true });
    device.stage(downgrade.bytes, envelopeFor(device, downgrade));
    const report = await device.boot();
    assert.deepEqual([report.outcome, report.reason], ['rejected', 'SECURITY_VERSION_ROLLBACK']);
  });
});

describe('boot-state records', () => {
  test('a pending request for an image other than the one verified is refused (STAGING_MISMATCH)', async () => {
    const device = factory.clone();
    const verified = await packFor(NEW);
    const other = await packFor(NEW, { version: '2.2.0' }); // signed, newer, the same length
    assert.equal(other.bytes.length, verified.bytes.length);
    device.stage(verified.bytes, envelopeFor(device, verified));
    // The staging chip's contents are swapped for another validly signed image after the agent's check.
    const { staging } = device.layout;
    const replaced = Buffer.concat([other.bytes, envelopeFor(device, other) as Uint8Array]);
    for (let at = 0; at < staging.size; at += 4096) device.flash.erase(staging.offset + at);
    const padded = new Uint8Array(Math.ceil(replaced.length / 8) * 8).fill(0xff);
    padded.set(replaced);
    device.flash.write(staging.offset, padded);
    assert.equal(device.bootState()?.phase, 'pending');
    const report = await device.boot();
    assert.deepEqual([report.outcome, report.reason], ['rejected', 'STAGING_MISMATCH']);
    assertSameBytes(device.executable(OLD.length), OLD, 'executable slot');
  });

  test('a forged record with sequence 0xFFFFFFFF does not stop the next legitimate update', async () => {
    const device = factory.clone();
    // An attacker who can write the boot-state flash appends the newest-looking record there is: idle,
    // running whatever it likes, with a valid checksum but no tag from this device's secure element.
    const forged = new Uint8Array(BOOT_RECORD_BYTES).fill(0xff);
    const payload = Buffer.concat([
      encodeBootState(idle({ size: 1, digest: new Uint8Array(32), version: '9.9.9' })),
      new Uint8Array(32),
    ]);
    const head = new ByteWriter()
      .u8(0x53)
      .u8(0x52)
      .u16(payload.length)
      .u32(0xffffffff)
      .bytes(payload)
      .finish();
    forged.set(head);
    forged.set(new ByteWriter().u32(crc32(head)).finish(), head.length);
    device.flash.write(device.layout.bootState.offset + BOOT_RECORD_BYTES, forged); // the slot after the factory's
    assert.equal(device.bootState()?.running.version, '2.0.0', 'the forged record is not the state');
    await installOnTrial(device, good, NEW);
    device.confirm();
    assert.equal(device.bootState()?.running.version, '2.1.0');
  });
});
