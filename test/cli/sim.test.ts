// `sihl sim device …` as a user would run it: a device made from Pybricks 7.27.0, updated to 7.28.0
// through a power cut, and an image for another model refused.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT } from '../../src/cli/main.ts';
import { sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { cBootloader } from '../../src/device/simulator/c-bootloader.ts';
import { cToolchainMissing } from '../bootloader/c-host.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware, tempDir } from '../helpers.ts';
import { imagePack, makeTrustFiles, ok, sihl, simDeviceCreate } from '../support/cli.ts';

const json = async (cwd: string, args: string[]) => JSON.parse(await ok(cwd, [...args, '--json']));

/** Pybricks 7.27.0 for the Move Hub: the firmware the device leaves the factory with; then 7.28.0. */
const oldFirmware = await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub');
const newFirmware = await pybricksFirmware(PYBRICKS, 'movehub');

/** Keys, trust, two firmware files and a device running 7.27.0 with its public key in movehub.pub. */
async function workspace(): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'old.bin'), oldFirmware);
  await writeFile(join(dir, 'new.bin'), newFirmware);
  await makeTrustFiles(dir);
  await ok(dir, [...simDeviceCreate('hub'), '--version', '7.27.0']);
  return dir;
}

test('a device is updated through a power cut and ends up running the new firmware', async () => {
  const dir = await workspace();
  const identity = await json(dir, ['sim', 'device', 'identity', 'hub', '-o', 'movehub.pub']);
  assert.equal(identity.model, 'movehub');
  assert.match(identity.id, /^[0-9a-f]{64}$/);
  const pub = JSON.parse(await readFile(join(dir, 'movehub.pub'), 'utf8'));
  assert.deepEqual(
    [pub.kind, pub.name, pub.sign, pub.box],
    ['device', identity.id, identity.sign, identity.box],
  );

  await ok(dir, imagePack('new.bin', 'movehub', '7.28.0', ['--security-version', '3', '-o', 'new.sihl']));
  await ok(dir, ['image', 'sign', 'new.sihl', '--key', 'alice.key']);
  await ok(dir, ['image', 'sign', 'new.sihl', '--key', 'bob.key']);
  await ok(dir, [
    'envelope',
    'seal',
    '--content-key',
    'new.sihl.content-key',
    '--device',
    'movehub.pub',
    '--image',
    'new.sihl',
    '-o',
    'hub.env',
  ]);
  const staged = await json(dir, ['sim', 'device', 'stage', 'hub', 'new.sihl', '--envelope', 'hub.env']);
  assert.equal(staged.phase, 'pending');

  const cut = await json(dir, ['sim', 'device', 'boot', 'hub', '--cut-after', '20']);
  assert.equal(cut.outcome, 'power-cut');
  assert.equal(cut.operations, 20);
  assert.equal(cut.phase, 'backup');
  assert.equal(cut.version, '7.27.0', 'the boot state still names the old firmware');
  assert.equal(cut.intact, true, 'the old firmware is untouched while it is backed up');
  const torn = await json(dir, ['sim', 'device', 'boot', 'hub', '--cut-after', '7', '--tear']);
  assert.deepEqual([torn.outcome, torn.operations, torn.attempts], ['power-cut', 7, 2]);

  const booted = await json(dir, ['sim', 'device', 'boot', 'hub', '--confirm']);
  assert.equal(booted.outcome, 'booted');
  assert.equal(booted.version, '7.28.0');
  assert.equal(booted.sha256, toHex(sha256(newFirmware)));
  assert.equal(booted.intact, true);
  assert.equal(booted.installed, true);
  assert.deepEqual([booted.confirmed, booted.trial], [true, false], 'the self-test passed: confirmed');
  assert.equal(booted.attempts, 3, 'the install was begun three times');

  const state = await json(dir, ['sim', 'device', 'inspect', 'hub']);
  assert.equal(state.bootState.phase, 'idle');
  assert.equal(state.bootState.running.version, '7.28.0');
  assert.equal(state.secureElement.securityCounter, 3);
  assert.equal(state.secureElement.delegationVersion, 1);
  assert.equal(state.id, identity.id);
  assert.ok(state.wear.executable.max >= 1, 'the executable slot was written once the backup was made');
  assert.ok(state.wear.backup.max >= 1, 'the old firmware went to the backup slot');

  const again = await json(dir, ['sim', 'device', 'boot', 'hub']);
  assert.deepEqual([again.outcome, again.installed, again.operations], ['booted', false, 0]);
  assert.match(
    (await sihl(dir, ['sim', 'device', 'inspect', 'hub'])).out,
    /phase {13}idle\n.*running {11}7\.28\.0/s,
  );
});

test('an image for another model is rejected at boot and the old firmware keeps running', async () => {
  const dir = await workspace();
  await ok(
    dir,
    imagePack('new.bin', 'technichub', '7.28.0', ['--no-encrypt', '--key', 'alice.key', '-o', 'other.sihl']),
  );
  await ok(dir, ['image', 'sign', 'other.sihl', '--key', 'bob.key']);
  await ok(dir, ['sim', 'device', 'stage', 'hub', 'other.sihl']);
  const r = await sihl(dir, ['sim', 'device', 'boot', 'hub', '--json']);
  assert.equal(r.code, EXIT.ok, 'a refusal is an outcome of the boot, not a failure of the command');
  const report = JSON.parse(r.out);
  assert.equal(report.outcome, 'rejected');
  assert.equal(report.reason, 'MODEL_MISMATCH');
  assert.equal(report.version, '7.27.0');
  assert.equal(report.sha256, toHex(sha256(oldFirmware)));
  assert.equal(report.intact, true);
  const state = await json(dir, ['sim', 'device', 'inspect', 'hub']);
  assert.deepEqual([state.bootState.phase, state.bootState.reason], ['idle', 'MODEL_MISMATCH']);
  assert.equal(state.secureElement.securityCounter, 0);
});

test('a new firmware booted without --confirm is reverted at the next boot, and the boot says REVERTED', async () => {
  const dir = await workspace();
  const keys = ['--key', 'alice.key', '-o', 'new.sihl'];
  await ok(
    dir,
    imagePack('new.bin', 'movehub', '7.28.0', ['--security-version', '2', '--no-encrypt', ...keys]),
  );
  await ok(dir, ['image', 'sign', 'new.sihl', '--key', 'bob.key']);
  await ok(dir, ['sim', 'device', 'stage', 'hub', 'new.sihl']);
  const trial = await json(dir, ['sim', 'device', 'boot', 'hub']);
  assert.deepEqual(
    [trial.outcome, trial.installed, trial.trial, trial.confirmed, trial.version],
    ['booted', true, true, false, '7.28.0'],
  );
  assert.match((await sihl(dir, ['sim', 'device', 'inspect', 'hub'])).out, /phase {13}trial/);
  const r = await sihl(dir, ['sim', 'device', 'boot', 'hub']);
  assert.equal(r.code, EXIT.ok);
  assert.match(r.out, /^REVERTED: the trial was not confirmed; running 7\.27\.0 again/);
  const state = await json(dir, ['sim', 'device', 'inspect', 'hub']);
  assert.deepEqual(
    [state.bootState.phase, state.bootState.reason, state.bootState.running.version],
    ['idle', 'TRIAL_NOT_CONFIRMED', '7.27.0'],
  );
  assert.equal(state.secureElement.securityCounter, 0, 'the counter moves only on confirmation');
  assert.equal(state.intact, true);
});

test('a device folder that exists is not replaced without --force', async () => {
  const dir = await workspace();
  const args = ['sim', 'device', 'create', 'hub', '--model', 'movehub', '--root', 'root.json'];
  const r = await sihl(dir, [...args, '--firmware', 'new.bin']);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /hub\/device\.json: .*\[FILE_EXISTS\]/);
  await ok(dir, [...args, '--firmware', 'new.bin', '--force']);
  const state = await json(dir, ['sim', 'device', 'inspect', 'hub']);
  assert.equal(state.bootState.running.version, 'unknown', 'no --version: the version is unknown');
});

test('errors name the file, and a folder may be named like a command word', async () => {
  const dir = await tempDir();
  const missing = await sihl(dir, ['sim', 'device', 'boot', 'nosuchdir']);
  assert.equal(missing.code, EXIT.usage);
  assert.match(missing.err, /nosuchdir\/device\.json: no such file \[FILE_NOT_FOUND\]/);

  await writeFile(join(dir, 'device.json'), '{"sihl": "public-key"}');
  const wrong = await sihl(dir, ['sim', 'device', 'inspect', '.']);
  assert.equal(wrong.code, EXIT.usage);
  assert.match(wrong.err, /device\.json: not a simulated device \[USAGE\]/);

  const ws = await workspace();
  await ok(ws, simDeviceCreate('boot'));
  assert.equal((await json(ws, ['sim', 'device', 'boot', 'boot'])).outcome, 'booted');

  const extra = await sihl(ws, ['sim', 'device', 'stage', 'hub', 'old.bin', 'extra']);
  assert.equal(extra.code, EXIT.usage);
  const tear = await sihl(ws, ['sim', 'device', 'boot', 'hub', '--tear']);
  assert.match(tear.err, /--tear needs --cut-after \[USAGE\]/);
  const help = await sihl(ws, ['sim', 'device', 'boot', '--help']);
  assert.match(help.out, /All three exit with 0/);
});

test('--bootloader c boots the same device folder with the C bootloader: through a power cut, byte for byte as the TypeScript one', {
  skip: (await cToolchainMissing()) ?? false,
}, async () => {
  const dir = await workspace();
  await ok(dir, ['sim', 'device', 'identity', 'hub', '-o', 'movehub.pub']);
  const keys = ['--key', 'alice.key', '-o', 'new.sihl'];
  await ok(
    dir,
    imagePack('new.bin', 'movehub', '7.28.0', ['--compression', 'lzma2', '--no-encrypt', ...keys]),
  );
  await ok(dir, ['image', 'sign', 'new.sihl', '--key', 'bob.key']);
  await ok(dir, ['sim', 'device', 'stage', 'hub', 'new.sihl']);
  await cp(join(dir, 'hub'), join(dir, 'twin'), { recursive: true });

  const cut = await json(dir, [
    'sim',
    'device',
    'boot',
    'hub',
    '--bootloader',
    'c',
    '--cut-after',
    '20',
    '--tear',
  ]);
  assert.deepEqual(
    [cut.bootloader, cut.outcome, cut.operations, cut.phase],
    ['c', 'power-cut', 20, 'backup'],
  );
  assert.equal(cut.intact, true, 'the old firmware is untouched while it is backed up');
  const booted = await json(dir, ['sim', 'device', 'boot', 'hub', '--bootloader', 'c']);
  assert.deepEqual(
    [booted.outcome, booted.installed, booted.trial, booted.attempts, booted.version, booted.intact],
    ['booted', true, true, 2, '7.28.0', true],
  );
  assert.equal(booted.sha256, toHex(sha256(newFirmware)));

  // The same two boots of the twin with the TypeScript bootloader leave the same flash, byte for byte.
  await ok(dir, ['sim', 'device', 'boot', 'twin', '--cut-after', '20', '--tear']);
  const twin = await json(dir, ['sim', 'device', 'boot', 'twin']);
  assert.deepEqual(
    [twin.bootloader, twin.outcome, twin.attempts, twin.operations],
    ['ts', booted.outcome, booted.attempts, booted.operations],
  );
  const [c, ts] = await Promise.all([
    readFile(join(dir, 'hub/flash.bin')),
    readFile(join(dir, 'twin/flash.bin')),
  ]);
  assert.ok(c.equals(ts), 'the C and the TypeScript bootloader leave the same flash');

  const reverted = await json(dir, ['sim', 'device', 'boot', 'hub', '--bootloader', 'c']);
  assert.deepEqual(
    [reverted.outcome, reverted.reason, reverted.version],
    ['reverted', 'TRIAL_NOT_CONFIRMED', '7.27.0'],
  );
  const bad = await sihl(dir, ['sim', 'device', 'boot', 'hub', '--bootloader', 'rust']);
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.err, /--bootloader takes ts or c/);
});

test('without a C compiler, building the C bootloader fails with what to install', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    // A build folder that holds no sihl-boot yet, so it must be built.
    await assert.rejects(cBootloader('unbuilt' as 'host'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'USAGE');
      assert.match(
        error.message,
        /needs a C compiler and make: no cc on the PATH \(Debian: apt-get install gcc make\), or use --bootloader ts/,
      );
      return true;
    });
  } finally {
    process.env.PATH = path;
  }
});
