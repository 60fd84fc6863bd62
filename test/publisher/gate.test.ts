// The gate checks what it names: an image changed after approval, firmware too big for the model's
// slot, a version that is not SemVer and a threshold no approvers can reach are all refused, through
// the command line as a vendor would meet them.
import assert from 'node:assert/strict';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ok, sihl } from '../support/cli.ts';
import { approvedRelease, editConfig, storeFiles, twoKeyWorkspace, WS } from './gate-support.ts';

test('an approved image with one byte flipped fails release check and release publish, and nothing is published', async () => {
  const { cwd, release } = await approvedRelease();
  assert.match(await ok(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]), /image-verifies/);
  const image = join(release, 'image.sihl');
  const handle = await open(image, 'r+');
  const { size } = await handle.stat();
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, size - 100);
  byte[0] = (byte[0] as number) ^ 0x01;
  await handle.write(byte, 0, 1, size - 100);
  await handle.close();

  const checked = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(checked.code, 1, checked.out);
  assert.match(checked.err, /image-verifies: devices would refuse the image: .*PAYLOAD_DIGEST_MISMATCH/);
  const published = await sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]);
  assert.equal(published.code, 1);
  assert.match(published.err, /PAYLOAD_DIGEST_MISMATCH/);
  assert.deepEqual(await storeFiles(cwd), ['metadata/1.root.json'], 'the store holds what init put there');
});

test('fits-slot says "not checked" without a slot size, and fails when the firmware is larger than the slot; device-decodes fails a Brotli image for an LZMA2-only model', async () => {
  const { cwd, firmware } = await approvedRelease();
  const unknown = await ok(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.match(unknown, /not checked: fits-slot: no slot size is known for model "movehub"/);
  assert.doesNotMatch(unknown.split('\n')[0] as string, /fits-slot/, 'not among the rules passed');

  await editConfig(cwd, { models: { movehub: { slotSize: firmware.length - 1 } } });
  const r = await sihl(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(
      `fits-slot: firmware is ${firmware.length} bytes; .* holds ${firmware.length - 1} \\(1 bytes too many\\)`,
    ),
  );
  await editConfig(cwd, { models: { movehub: { slotSize: firmware.length } } });
  assert.match(
    await ok(cwd, ['release', 'check', 'movehub-1.0.0', ...WS]),
    /passes 8 rule\(s\):.*fits-slot, device-decodes/,
  );

  // The release was packed with Brotli before the model was marked as a C-bootloader target.
  await editConfig(cwd, { models: { movehub: { slotSize: firmware.length, codec: 'lzma2' } } });
  const brotli = await sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]);
  assert.equal(brotli.code, 1, brotli.out);
  assert.match(brotli.err, /device-decodes: the image is compressed with Brotli.*COMPRESSION_UNSUPPORTED/);
  assert.deepEqual(await storeFiles(cwd), ['metadata/1.root.json'], 'nothing was published');
});

test('release create refuses a 2 GB sparse file at once when the model slot size is known', async () => {
  const { cwd } = await twoKeyWorkspace();
  await editConfig(cwd, { models: { movehub: { slotSize: 1024 * 1024 } } });
  const handle = await open(join(cwd, 'huge.bin'), 'w');
  await handle.truncate(2 * 1024 ** 3);
  await handle.close();
  const started = Date.now();
  const r = await sihl(cwd, [
    'release',
    'create',
    'huge.bin',
    '--model',
    'movehub',
    '--version',
    '2.0.0',
    ...WS,
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /huge\.bin: fits-slot: the firmware is 2147483648 bytes; the executable slot of model "movehub" holds 1048576/,
  );
  assert.ok(Date.now() - started < 5000, 'refused before packing');
  assert.deepEqual(await readdir(join(cwd, 'acme', 'releases')), [], 'nothing half-made');
});

test('release create refuses a version that is not SemVer, before anyone approves it', async () => {
  const { cwd } = await twoKeyWorkspace();
  const r = await sihl(cwd, [
    'release',
    'create',
    'fw.bin',
    '--model',
    'movehub',
    '--version',
    'v9.3',
    ...WS,
  ]);
  assert.equal(r.code, 2);
  assert.match(r.err, /version "v9\.3" is not a semantic version .*did you mean 9\.3\.0\?/);
  assert.deepEqual(await readdir(join(cwd, 'acme', 'releases')), []);
});

test('sihl.json with a targets threshold above its approvers is refused, naming the file', async () => {
  const { cwd } = await twoKeyWorkspace();
  const path = join(cwd, 'acme', 'sihl.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  config.roles.targets.threshold = 5;
  await writeFile(path, JSON.stringify(config));
  const r = await sihl(cwd, ['device', 'list', ...WS]);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /sihl\.json: invalid workspace configuration:\n {2}- roles\.targets: threshold 5 but only 2 key\(s\)/,
  );
  config.roles.targets.threshold = 17;
  config.models = { movehub: { slotSize: -1 } };
  await writeFile(path, JSON.stringify(config));
  const bad = await sihl(cwd, ['device', 'list', ...WS]);
  assert.match(bad.err, /threshold 17 is above the most keys a role may have \(16\)/);
  assert.match(bad.err, /models\.movehub\.slotSize must be a whole number of bytes/);
});

test('a model marked as a microcontroller target (models.M.codec "lzma2") is packed with LZMA2 and the Thumb filter by release create and image pack; other models keep Brotli', async () => {
  const { cwd } = await twoKeyWorkspace();
  await editConfig(cwd, { models: { movehub: { slotSize: 1024 * 1024, codec: 'lzma2' } } });
  const codec = async (image: string) => {
    const { manifest } = JSON.parse(await ok(cwd, ['image', 'inspect', image, '--json']));
    return [manifest.compression.algorithm, manifest.compression.filter];
  };
  const create = (model: string) =>
    ok(cwd, ['release', 'create', 'fw.bin', '--model', model, '--version', '1.0.0', '--no-encrypt', ...WS]);
  await create('movehub');
  await create('cityhub');
  assert.deepEqual(await codec('acme/releases/movehub-1.0.0/image.sihl'), ['lzma2', 'thumb']);
  assert.deepEqual((await codec('acme/releases/cityhub-1.0.0/image.sihl'))[0], 'brotli');

  const pack = (model: string, more: string[]) =>
    ok(cwd, [
      'image',
      'pack',
      'fw.bin',
      '--model',
      model,
      '--version',
      '1.0.1',
      '--no-encrypt',
      '--delegation',
      'acme/trust/delegation.bin',
      ...WS,
      '--force',
      ...more,
    ]);
  await pack('movehub', ['-o', 'a.sihl']);
  assert.deepEqual(await codec('a.sihl'), ['lzma2', 'thumb']);
  await pack('movehub', ['--compression', 'brotli', '-o', 'b.sihl']);
  assert.equal((await codec('b.sihl'))[0], 'brotli', 'an explicit --compression wins');
  await pack('cityhub', ['-o', 'c.sihl']);
  assert.equal((await codec('c.sihl'))[0], 'brotli');

  await editConfig(cwd, { models: { movehub: { slotSize: 1024, codec: 'zstd' } } });
  const bad = await sihl(cwd, ['device', 'list', ...WS]);
  assert.match(bad.err, /models\.movehub\.codec must be "brotli" or "lzma2"/);
});
