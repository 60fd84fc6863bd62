import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { here } from '../../docs/vectors/generate.ts';
import { pybricksCorpus, tempDir } from '../helpers.ts';
import { makeTrustFiles, ok } from '../support/cli.ts';

const firmware = (await pybricksCorpus()).get('primehub') as Uint8Array;

test('image pack --compression lzma2 makes an image that verifies and unpacks to the firmware, encrypted or not', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'firmware.bin'), firmware);
  await makeTrustFiles(dir);
  await ok(dir, ['keys', 'generate', '--kind', 'device', '--name', 'device-1']);
  const pack = async (out: string, extra: string[]) => {
    await ok(dir, [
      'image',
      'pack',
      'firmware.bin',
      '--model',
      'primehub',
      '--version',
      '7.28.0',
      '--delegation',
      'approvers.dlg',
      '--compression',
      'lzma2',
      '--window-log',
      '14',
      '--key',
      'alice.key',
      '-o',
      out,
      ...extra,
    ]);
    await ok(dir, ['image', 'sign', out, '--key', 'bob.key']);
  };
  await pack('signed.sihl', ['--no-encrypt']);
  const verified = JSON.parse(
    await ok(dir, ['image', 'verify', 'signed.sihl', '--root', 'root.json', '--json']),
  );
  assert.equal(verified.manifest.compression.algorithm, 'lzma2');
  assert.equal(verified.manifest.compression.windowLog, 14);
  assert.ok(verified.manifest.payloadSize < firmware.length * 0.7, 'LZMA2 compresses the firmware');
  await ok(dir, ['image', 'unpack', 'signed.sihl', '--root', 'root.json', '-o', 'signed.bin']);
  assert.ok(Buffer.from(await readFile(join(dir, 'signed.bin'))).equals(firmware));

  await pack('sealed.sihl', []);
  await ok(dir, [
    'envelope',
    'seal',
    '--content-key',
    'sealed.sihl.content-key',
    '--device',
    'device-1.pub',
    '--image',
    'sealed.sihl',
    '-o',
    'device-1.env',
  ]);
  await ok(dir, [
    'image',
    'unpack',
    'sealed.sihl',
    '--root',
    'root.json',
    '--device-key',
    'device-1.key',
    '--envelope',
    'device-1.env',
    '-o',
    'sealed.bin',
  ]);
  assert.ok(Buffer.from(await readFile(join(dir, 'sealed.bin'))).equals(firmware));
});

test('image verify shows a creation time past the last JavaScript date as seconds instead of failing', async () => {
  const dir = await tempDir();
  await copyFile(join(here, 'created-far-future.sihl'), join(dir, 'image.sihl'));
  await copyFile(join(here, 'root.trust'), join(dir, 'root.json'));
  const verified = JSON.parse(
    await ok(dir, ['image', 'verify', 'image.sihl', '--root', 'root.json', '--json']),
  );
  assert.equal(verified.manifest.created, '9007199254740991 s after 1970-01-01T00:00:00Z');
  const shown = await ok(dir, ['image', 'inspect', 'image.sihl']);
  assert.match(shown, /9007199254740991 s after 1970/);
});
