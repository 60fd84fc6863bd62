// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { EXIT } from '../../src/cli/main.ts';
import { verbs } from '../../src/cli/verbs.ts';
import { openSigningKey } from '../../src/core/keys.ts';
import { pybricksCorpus, tempDir } from '../helpers.ts';
import { imagePack, makeTrustFiles, ok, PASSPHRASE, sihl } from '../support/cli.ts';
import { pem as pemBlock } from '../support/fixtures.ts';

const firmware = (await pybricksCorpus()).get('primehub') as Uint8Array;

/** The README's worked example, up to a signed image. */
async function workspace(): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'firmware.bin'), firmware);
  await makeTrustFiles(dir);
  await ok(dir, ['keys', 'generate', '--kind', 'device', '--name', 'device-1']);
  await ok(dir, ['keys', 'generate', '--kind', 'device', '--name', 'device-2']);
  return dir;
}

test('the worked example runs from keys to an unpacked image identical to the firmware', async () => {
  const dir = await workspace();
  await ok(dir, imagePack('firmware.bin', 'primehub', '7.28.0'));
  await ok(dir, ['image', 'sign', 'firmware.bin.sihl', '--key', 'alice.key']);
  const refused = await sihl(dir, ['image', 'verify', 'firmware.bin.sihl', '--root', 'root.json']);
  assert.equal(refused.code, EXIT.refused, 'one approver alone cannot ship');
  assert.match(refused.err, /SIGNATURE_THRESHOLD/);
  await ok(dir, ['image', 'sign', 'firmware.bin.sihl', '--key', 'bob.key']);
  const verified = JSON.parse(
    await ok(dir, [
      'image',
      'verify',
      'firmware.bin.sihl',
      '--root',
      'root.json',
      '--model',
      'primehub',
      '--json',
    ]),
  );
  assert.equal(verified.valid, true);
  assert.equal(verified.manifest.version, '7.28.0');
  await ok(dir, [
    'envelope',
    'seal',
    '--content-key',
    'firmware.bin.sihl.content-key',
    '--device',
    'device-1.pub',
    '--image',
    'firmware.bin.sihl',
    '-o',
    'device-1.env',
  ]);
  // The device's own key opens its envelope.
  const unpackWith = (deviceKey: string, out: string) => [
    ...['image', 'unpack', 'firmware.bin.sihl', '--root', 'root.json'],
    ...['--device-key', deviceKey, '--envelope', 'device-1.env', '-o', out],
  ];
  await ok(dir, unpackWith('device-1.key', 'out.bin'));
  assert.ok(Buffer.from(await readFile(join(dir, 'out.bin'))).equals(firmware));

  const other = await sihl(dir, unpackWith('device-2.key', 'stolen.bin'));
  assert.equal(other.code, EXIT.refused, "another device's key does not open the envelope");
  assert.match(other.err, /device-1\.env: .*ENVELOPE_WRONG_RECIPIENT/);
  await assert.rejects(stat(join(dir, 'stolen.bin')), 'nothing is written on failure');
});

test('a signed-only image needs no envelope', async () => {
  const dir = await workspace();
  await ok(
    dir,
    imagePack('firmware.bin', 'primehub', '1.0.0', [
      '--no-encrypt',
      '--key',
      'alice.key',
      '-o',
      'plain.sihl',
    ]),
  );
  await ok(dir, ['image', 'sign', 'plain.sihl', '--key', 'bob.key']);
  await assert.rejects(stat(join(dir, 'plain.sihl.content-key')));
  await ok(dir, ['image', 'unpack', 'plain.sihl', '--root', 'root.json', '-o', 'out.bin']);
  assert.ok(Buffer.from(await readFile(join(dir, 'out.bin'))).equals(firmware));
});

test('a wrong passphrase gives a clear error naming the key file, and no key bytes', async () => {
  const dir = await workspace();
  const r = await sihl(
    dir,
    ['delegation', 'create', '--root-key', 'root.key', '--approver', 'alice.pub', '-o', 'x.dlg'],
    { SIHL_PASSPHRASE: 'wrong' },
  );
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /root\.key: wrong passphrase/);
  const pair = await openSigningKey(new Uint8Array(await readFile(join(dir, 'root.key'))), PASSPHRASE);
  const seed = Buffer.from(pair.secretKey.subarray(0, 32));
  for (const text of [r.err, r.out]) {
    assert.ok(!text.includes(seed.toString('hex')) && !text.includes(seed.toString('base64')));
    assert.ok(
      !text.includes('wrong') || /wrong passphrase/.test(text),
      'the passphrase itself is not echoed',
    );
  }
});

test('no passphrase and no terminal is an error, not a hang', async () => {
  const dir = await tempDir();
  const r = await sihl(dir, ['keys', 'generate', '--name', 'x'], {});
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /SIHL_PASSPHRASE/);
});

test('errors name the file and the problem, with an exit code per family', async () => {
  const dir = await workspace();
  const missing = await sihl(dir, ['image', 'inspect', 'nope.sihl']);
  assert.equal(missing.code, EXIT.usage);
  assert.match(missing.err, /nope\.sihl: no such file \[FILE_NOT_FOUND\]/);

  await writeFile(join(dir, 'junk.sihl'), 'not an image at all, just text that is long enough');
  const junk = await sihl(dir, ['image', 'inspect', 'junk.sihl']);
  assert.equal(junk.code, EXIT.refused);
  assert.match(junk.err, /junk\.sihl: .*IMAGE_/);

  await writeFile(join(dir, 'pem.key'), pemBlock('PRIVATE KEY', 'MC4CAQAwBQYDK2VwBCIEIA=='));
  const pem = await sihl(dir, ['image', 'sign', 'junk.sihl', '--key', 'pem.key']);
  assert.equal(pem.code, EXIT.usage);
  assert.match(pem.err, /pem\.key: .*PEM/);

  const wrongKind = await sihl(dir, ['root', 'create', '--key', 'device-1.pub', '-o', 'r.json']);
  assert.equal(wrongKind.code, EXIT.usage);
  assert.match(wrongKind.err, /device-1\.pub: .*KEY_WRONG_KIND/);

  const unknownFlag = await sihl(dir, ['image', 'pack', 'firmware.bin', '--colour', 'red']);
  assert.equal(unknownFlag.code, EXIT.usage);
  assert.match(unknownFlag.err, /Usage: sihl image pack/);

  const json = await sihl(dir, ['image', 'inspect', 'nope.sihl', '--json']);
  assert.deepEqual(JSON.parse(json.out).error.code, 'FILE_NOT_FOUND');
});

test('an existing output is not replaced without --force', async () => {
  const dir = await workspace();
  await writeFile(join(dir, 'firmware.bin.sihl.content-key'), 'an older key');
  const packed = await sihl(dir, [
    'image',
    'pack',
    'firmware.bin',
    '--model',
    'm',
    '--version',
    '1',
    '--delegation',
    'approvers.dlg',
  ]);
  assert.equal(packed.code, EXIT.usage);
  assert.match(packed.err, /firmware\.bin\.sihl\.content-key: file already exists/);
  await assert.rejects(stat(join(dir, 'firmware.bin.sihl')), 'no image is left without its content key');

  const r = await sihl(dir, ['keys', 'generate', '--name', 'alice']);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /alice\.key: file already exists/);
});

test('every command has --help', async () => {
  for (const verb of verbs) {
    const r = await sihl('.', [...verb.path, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`Usage: sihl ${verb.path.join(' ')}`));
  }
  const overview = await sihl('.', ['--help']);
  assert.match(overview.out, /image pack/);
});

test('the sihl bin runs through npx-style execution', async () => {
  const bin = new URL('../../bin/sihl.js', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'image', 'pack', '--help']);
  assert.match(stdout, /Usage: sihl image pack/);
});
