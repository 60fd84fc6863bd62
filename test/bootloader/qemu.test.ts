// The C bootloader cross-built for a Cortex-M4 and booted in QEMU's mps2-an386 on the flash of a device
// that `sihl sim device` made (docs/BOOT.md version 2): it installs a staged Pybricks update (backup of
// the running firmware, one streaming pass that authenticates every chunk, the new firmware on trial),
// reverts a trial that was not confirmed, refuses an image with a wrong signature, and finishes an
// install that a power cut interrupted. The TypeScript side reads the flash the target left behind, and
// the TypeScript bootloader boots copies of the same flash: both must leave the same bytes (boot-state
// records are deterministic given the device's record key and the sequence number).
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { tempDir } from '../helpers.ts';
import { ok } from '../support/cli.ts';
import { type Device, stagedDevice, type UpdateOptions } from './qemu-device.ts';
import { BUILD_DIR, buildTarget, type QemuRun, runQemu, STATUS, skipTarget } from './qemu-harness.ts';

const BOOT = join(BUILD_DIR, 'boot.elf');

before(async () => {
  if (!skipTarget) await buildTarget('boot');
});

interface Boot {
  readonly run: QemuRun;
  readonly report: Record<string, string>;
}

/** One power-on of the target, optionally with a power cut after `cutAfter` flash operations. */
async function boot(device: Device, cut: { cutAfter?: number; tear?: boolean } = {}): Promise<Boot> {
  const run = await runQemu(BOOT, {
    flash: device.flash,
    sectorSize: device.sectorSize,
    writeSize: device.writeSize,
    extra: device.words,
    ...cut,
  });
  const line = /^boot (.*)$/m.exec(run.output)?.[1] ?? '';
  return {
    run,
    report: Object.fromEntries([...line.matchAll(/([a-z0-9-]+)=(\S+)/g)].map((m) => [m[1], m[2]])),
  };
}

/** The flash file's executable slot, `length` bytes. */
async function slot(device: Device, length: number): Promise<Uint8Array> {
  const flash = new Uint8Array(await readFile(device.flash));
  return flash.subarray(device.executableOffset, device.executableOffset + length);
}

const inspect = async (device: Device) =>
  JSON.parse(await ok(device.dir, ['sim', 'device', 'inspect', 'hub', '--json']));

async function device(update: UpdateOptions): Promise<Device> {
  return stagedDevice(await tempDir(), update);
}

test('the target installs an encrypted update from staging and the slot holds the new firmware byte for byte', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: true });
  // The TypeScript bootloader boots a copy of the same flash: both must leave the same bytes.
  await cp(join(d.dir, 'hub'), join(d.dir, 'hub-ts'), { recursive: true });
  await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts']);
  const { run, report } = await boot(d);
  assert.equal(run.status, STATUS.ok, run.output);
  assert.equal(report.result, 'OK', run.output);
  assert.ok(
    Buffer.from(await readFile(d.flash)).equals(await readFile(join(d.dir, 'hub-ts', 'flash.bin'))),
    'the C bootloader on the target and the TypeScript one leave the flash byte for byte the same',
  );
  assert.deepEqual(
    [report.outcome, report.installed, report.trial, report.attempts],
    ['booted', '1', '1', '1'],
  );
  assert.equal(report.sha256, toHex(sha256(d.newFirmware)));
  assert.deepEqual(await slot(d, d.newFirmware.length), d.newFirmware);
  const tail = await slot(d, Math.max(d.oldFirmware.length, d.newFirmware.length));
  assert.ok(
    tail.subarray(d.newFirmware.length).every((b) => b === 0xff),
    'nothing of the old firmware is left past the new one',
  );
  assert.match(run.output, /jump to flash offset \d+/);

  // The TypeScript side reads what the target wrote: boot state and secure element. BOOT.md v2: the new
  // firmware runs on trial, and the counters advance only when it confirms itself.
  const state = await inspect(d);
  assert.equal(state.bootState.phase, 'trial');
  assert.equal(state.bootState.running.version, '7.28.0');
  const backupAt = d.executableOffset + Number(/slot=(\d+)/.exec(d.words.join(' '))?.[1]);
  const flash = new Uint8Array(await readFile(d.flash));
  assert.deepEqual(
    flash.subarray(backupAt, backupAt + d.oldFirmware.length),
    d.oldFirmware,
    'the backup slot holds the old firmware',
  );
  assert.equal(state.secureElement.securityCounter, 0);

  // Nothing confirmed the trial: the next boot reverts to the backup, as the TypeScript bootloader does.
  await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts']);
  const again = await boot(d);
  assert.equal(again.run.status, STATUS.ok, again.run.output);
  assert.deepEqual(
    [again.report.outcome, again.report.reason, again.report.installed, again.report.trial],
    ['reverted', 'TRIAL_NOT_CONFIRMED', '0', '0'],
  );
  assert.equal(again.report.sha256, toHex(sha256(d.oldFirmware)));
  assert.deepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware);
  assert.ok(
    Buffer.from(await readFile(d.flash)).equals(await readFile(join(d.dir, 'hub-ts', 'flash.bin'))),
    'both bootloaders revert the trial to the same bytes',
  );
  const reverted = await inspect(d);
  assert.deepEqual([reverted.bootState.phase, reverted.bootState.running.version], ['idle', '7.27.0']);
  assert.equal(reverted.secureElement.securityCounter, 0, 'a reverted trial moves no counter');

  const idle = await boot(d);
  assert.deepEqual([idle.report.outcome, idle.report.installed, idle.report.intact], ['booted', '0', '1']);
  assert.equal(idle.run.operations, 0, 'a boot with nothing to do writes nothing');
});

test('an image with a wrong signature is refused and the old firmware stays in the slot', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: false });
  // Flip the last byte of the last approver signature, in the staged copy on the device's flash.
  const image = new Uint8Array(await readFile(join(d.dir, 'new.sihl')));
  const header = new DataView(image.buffer, image.byteOffset, 32);
  const end = 32 + header.getUint32(8, true) + header.getUint32(12, true) + header.getUint32(16, true);
  const flash = new Uint8Array(await readFile(d.flash));
  // BOOT.md v2 §Layout: staging follows the executable slot and the backup slot, each `slot` bytes.
  const staging = d.executableOffset + 2 * Number(/slot=(\d+)/.exec(d.words.join(' '))?.[1]);
  flash[staging + end - 1] = (flash[staging + end - 1] ?? 0) ^ 0x01;
  await writeFile(d.flash, flash);
  // The TypeScript bootloader on a copy of the same flash: both must give the same reason.
  await cp(join(d.dir, 'hub'), join(d.dir, 'hub-ts'), { recursive: true });
  const ts = JSON.parse(await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts', '--json']));

  const { run, report } = await boot(d);
  assert.equal(run.status, STATUS.ok, run.output);
  assert.equal(report.outcome, 'rejected', run.output);
  assert.equal(report.reason, ts.reason);
  assert.match(report.reason ?? '', /^SIGNATURE_/);
  assert.equal(report.installed, '0');
  assert.deepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware);
  const state = await inspect(d);
  assert.deepEqual([state.bootState.phase, state.bootState.running.version], ['idle', '7.27.0']);
  assert.equal(state.bootState.reason, ts.reason);
  assert.equal(state.secureElement.securityCounter, 0, 'a refused image moves no counter');
  assert.ok(
    Buffer.from(await readFile(d.flash)).equals(await readFile(join(d.dir, 'hub-ts', 'flash.bin'))),
    'both bootloaders leave the flash byte for byte the same',
  );
});

test('a power cut in the middle of the install is finished by the next boot', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: true });
  // Operations (BOOT.md v2): the backup record, an erase and a write per sector of the old firmware into
  // the (erased) backup slot, the writing record, then an erase and a write per sector of new firmware;
  // the cut falls after the sixth new sector's erase, with a torn operation the second time.
  const oldSectors = Math.ceil(d.oldFirmware.length / d.sectorSize);
  const at = 1 + 2 * oldSectors + 1 + 11;
  const cut = await boot(d, { cutAfter: at });
  assert.equal(cut.run.status, STATUS.powerCut, cut.run.output);
  assert.equal(cut.run.operations, at);
  assert.equal((await inspect(d)).bootState.phase, 'writing');
  assert.notDeepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware, 'the old firmware is partly gone');

  const torn = await boot(d, { cutAfter: 5, tear: true });
  assert.equal(torn.run.status, STATUS.powerCut, torn.run.output);

  const { run, report } = await boot(d);
  assert.equal(run.status, STATUS.ok, run.output);
  assert.deepEqual(
    [report.outcome, report.installed, report.trial, report.attempts],
    ['booted', '1', '1', '3'],
  );
  assert.deepEqual(await slot(d, d.newFirmware.length), d.newFirmware);
  const state = await inspect(d);
  assert.deepEqual([state.bootState.phase, state.bootState.running.version], ['trial', '7.28.0']);
});

test('a power cut after any chosen operation of an install leaves the same flash as the TypeScript bootloader, and so does the next boot', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: true });
  const pristine = join(d.dir, 'pristine');
  await cp(join(d.dir, 'hub'), pristine, { recursive: true });
  const whole = await boot(d);
  const total = whole.run.operations ?? 0;
  assert.ok(total > 20, whole.run.output);
  // The backup record, the backup copy, the writing record, sectors of new firmware, the old firmware's
  // tail, the installed record, the staging erase and the trial record: the first, last and some between.
  const cuts = [1, 2, 3, 30, total - 20, total - 3, total - 2, total - 1];
  for (const k of cuts) {
    await cp(pristine, join(d.dir, 'hub'), { recursive: true });
    await cp(pristine, join(d.dir, `ts-${k}`), { recursive: true });
    const cut = await boot(d, { cutAfter: k });
    assert.equal(cut.run.status, STATUS.powerCut, cut.run.output);
    const ts = JSON.parse(
      await ok(d.dir, ['sim', 'device', 'boot', `ts-${k}`, '--cut-after', String(k), '--json']),
    );
    assert.deepEqual([ts.outcome, ts.operations], ['power-cut', k]);
    const tsFlash = () => readFile(join(d.dir, `ts-${k}`, 'flash.bin'));
    assert.ok(
      Buffer.from(await readFile(d.flash)).equals(await tsFlash()),
      `flash after a cut at operation ${k}`,
    );
    const next = await boot(d);
    assert.equal(next.report.outcome, 'booted', next.run.output);
    await ok(d.dir, ['sim', 'device', 'boot', `ts-${k}`]);
    assert.ok(
      Buffer.from(await readFile(d.flash)).equals(await tsFlash()),
      `flash after the boot that follows ${k}`,
    );
    assert.deepEqual(await slot(d, d.newFirmware.length), d.newFirmware);
  }
});

test('a boot state overwritten with garbage is recovered as the TypeScript bootloader recovers it', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: false });
  const flash = new Uint8Array(await readFile(d.flash));
  flash.fill(0x5a, 0, 2 * d.sectorSize);
  await writeFile(d.flash, flash);
  await cp(join(d.dir, 'hub'), join(d.dir, 'hub-ts'), { recursive: true });
  const ts = JSON.parse(await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts', '--json']));
  const { run, report } = await boot(d);
  assert.equal(run.status, STATUS.ok, run.output);
  assert.deepEqual([report.outcome, report.reason, report.intact], ['rejected', 'BOOT_STATE_CORRUPT', '0']);
  assert.deepEqual([ts.outcome, ts.reason], ['rejected', 'BOOT_STATE_CORRUPT']);
  assert.deepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware, 'the executable slot is left alone');
  assert.ok(
    Buffer.from(await readFile(d.flash)).equals(await readFile(join(d.dir, 'hub-ts', 'flash.bin'))),
    'both bootloaders leave the flash byte for byte the same',
  );
});

/** Whether the target's flash equals the flash of the TypeScript bootloader's copy in `dir`. */
async function sameFlash(d: Device, dir: string): Promise<boolean> {
  return Buffer.from(await readFile(d.flash)).equals(await readFile(join(d.dir, dir, 'flash.bin')));
}

/** Flips one byte of both flash files (the target's and the TypeScript copy's) at `offset`. */
async function flipBoth(d: Device, dir: string, offset: number): Promise<void> {
  for (const file of [d.flash, join(d.dir, dir, 'flash.bin')]) {
    const flash = new Uint8Array(await readFile(file));
    flash[offset] = (flash[offset] ?? 0) ^ 0x01;
    await writeFile(file, flash);
  }
}

test('staging changed once the slot is being written is refused at the changed chunk, and the backup goes back as in TypeScript', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: true });
  await cp(join(d.dir, 'hub'), join(d.dir, 'hub-ts'), { recursive: true });
  // A cut in the new firmware's pass (BOOT.md v2: backup record, the backup copy, writing record, ...).
  const at = 1 + 2 * Math.ceil(d.oldFirmware.length / d.sectorSize) + 1 + 4;
  const cut = await boot(d, { cutAfter: at });
  assert.equal(cut.run.status, STATUS.powerCut, cut.run.output);
  await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts', '--cut-after', String(at)]);
  assert.ok(await sameFlash(d, 'hub-ts'), 'the same flash after the cut');
  assert.equal((await inspect(d)).bootState.phase, 'writing');
  // A byte of the image's last stored chunk changes in staging (both copies): BOOT.md §Revert.
  const staging = d.executableOffset + 2 * Number(/slot=(\d+)/.exec(d.words.join(' '))?.[1]);
  await flipBoth(d, 'hub-ts', staging + d.imageBytes - 100);
  const ts = JSON.parse(await ok(d.dir, ['sim', 'device', 'boot', 'hub-ts', '--json']));
  const { run, report } = await boot(d);
  assert.equal(run.status, STATUS.ok, run.output);
  assert.deepEqual([ts.outcome, ts.reason], ['rejected', 'PAYLOAD_DIGEST_MISMATCH']);
  assert.deepEqual([report.outcome, report.reason, report.installed], ['rejected', ts.reason, '0']);
  assert.equal(report.sha256, toHex(sha256(d.oldFirmware)));
  assert.deepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware);
  assert.ok(await sameFlash(d, 'hub-ts'), 'both bootloaders revert to the same bytes');
  const state = await inspect(d);
  assert.deepEqual(
    [state.bootState.phase, state.bootState.running.version, state.bootState.reason],
    ['idle', '7.27.0', 'PAYLOAD_DIGEST_MISMATCH'],
  );
  assert.equal(state.secureElement.securityCounter, 0);
});

test('a power cut during the revert of an unconfirmed trial leaves the same flash as the TypeScript bootloader, and the next boot finishes it', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: false });
  const installed = await boot(d);
  assert.deepEqual([installed.report.outcome, installed.report.trial], ['booted', '1'], installed.run.output);
  const trial = join(d.dir, 'trial');
  await cp(join(d.dir, 'hub'), trial, { recursive: true });
  const whole = await boot(d);
  assert.deepEqual([whole.report.outcome, whole.report.reason], ['reverted', 'TRIAL_NOT_CONFIRMED']);
  const total = whole.run.operations ?? 0;
  assert.ok(total > 10, whole.run.output);
  for (const k of [1, 2, Math.floor(total / 2), total - 1]) {
    await cp(trial, join(d.dir, 'hub'), { recursive: true });
    await cp(trial, join(d.dir, `ts-${k}`), { recursive: true });
    const cut = await boot(d, { cutAfter: k });
    assert.equal(cut.run.status, STATUS.powerCut, cut.run.output);
    const ts = JSON.parse(
      await ok(d.dir, ['sim', 'device', 'boot', `ts-${k}`, '--cut-after', String(k), '--json']),
    );
    assert.deepEqual([ts.outcome, ts.operations], ['power-cut', k]);
    assert.ok(await sameFlash(d, `ts-${k}`), `flash after a cut at operation ${k} of the revert`);
    const next = await boot(d);
    assert.deepEqual(
      [next.report.outcome, next.report.reason],
      ['reverted', 'TRIAL_NOT_CONFIRMED'],
      next.run.output,
    );
    await ok(d.dir, ['sim', 'device', 'boot', `ts-${k}`]);
    assert.ok(await sameFlash(d, `ts-${k}`), `flash after the boot that follows ${k}`);
    assert.deepEqual(await slot(d, d.oldFirmware.length), d.oldFirmware);
  }
});
