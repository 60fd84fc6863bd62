// The secure element port on the Cortex-M4, in QEMU, on the flash of a device that `sihl sim device create`
// provisioned: it reads the device's keys, pinned root and counters as the TypeScript secure element
// wrote them, and what it writes (counters through a full log sector, a newer root) reads back the same
// in TypeScript; a power cut in the middle leaves the last complete value.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { tempDir } from '../helpers.ts';
import { makeTrustFiles, ok } from '../support/cli.ts';
import { PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { BUILD_DIR, buildTarget, runQemu, STATUS, skipTarget } from './qemu-harness.ts';

const ELF = join(BUILD_DIR, 'se-check.elf');

before(async () => {
  if (!skipTarget) await buildTarget('se-check');
});

async function provisioned() {
  const dir = await tempDir();
  await writeFile(join(dir, 'fw.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await makeTrustFiles(dir);
  await ok(dir, [
    ...['sim', 'device', 'create', 'hub', '--model', 'movehub', '--root', 'root.json'],
    ...['--firmware', 'fw.bin', '--version', '7.27.0'],
  ]);
  const inspect = async () => JSON.parse(await ok(dir, ['sim', 'device', 'inspect', 'hub', '--json']));
  const before = await inspect();
  const words = [`slot=${before.layout.executable.size}`, `staging=${before.layout.staging.size}`];
  const run = (cut: { cutAfter?: number } = {}) =>
    runQemu(ELF, { flash: join(dir, 'hub', 'flash.bin'), extra: words, ...cut });
  return { before, inspect, run };
}

const line = (output: string, name: string) =>
  Object.fromEntries(
    [...(new RegExp(`^${name} (.*)$`, 'm').exec(output)?.[1] ?? '').matchAll(/([a-z-]+)=(\S+)/g)].map((m) => [
      m[1],
      m[2],
    ]),
  );

test('the target reads what provisioning wrote and its counters and root read back in TypeScript', {
  skip: skipTarget,
}, async () => {
  const device = await provisioned();
  const r = await device.run();
  assert.equal(r.status, STATUS.ok, r.output);
  assert.equal(
    /^box=([0-9a-f]{64})$/m.exec(r.output)?.[1],
    toHex(Buffer.from(device.before.box, 'base64')),
    "the X25519 public key made from the provisioned secret is the device's",
  );
  assert.deepEqual(line(r.output, 'provisioned'), {
    'root-version': '1',
    threshold: '1',
    keys: '1',
    'key-id': device.before.secureElement.rootKeyIds[0],
    security: '0',
    delegation: '0',
  });
  // 71 records of 64 bytes: the first sector of the log (64 slots) fills and the log goes on in the other.
  assert.equal(line(r.output, 'raised').security, '70');
  assert.deepEqual(
    [line(r.output, 'not-lowered').security, line(r.output, 'not-lowered').delegation],
    ['70', '2'],
  );
  const newRoot = toHex(sha256(new Uint8Array(32).fill(0x42)));
  assert.deepEqual(
    [line(r.output, 'pinned')['root-version'], line(r.output, 'pinned')['key-id']],
    ['2', newRoot],
  );
  assert.equal(line(r.output, 'older-root')['root-version'], '2', 'an older root is never pinned');

  const after = await device.inspect();
  assert.equal(after.secureElement.securityCounter, 70);
  assert.equal(after.secureElement.delegationVersion, 2);
  assert.deepEqual(after.secureElement.rootKeyIds, [newRoot]);
  assert.equal(after.id, device.before.id, "the device's identity is unchanged");
});

test('a power cut while the counters are raised leaves the last complete record', {
  skip: skipTarget,
}, async () => {
  const device = await provisioned();
  // Each raise is one program; the 66th operation is the erase that moves the log to its other sector.
  const r = await device.run({ cutAfter: 40 });
  assert.equal(r.status, STATUS.powerCut, r.output);
  const after = await device.inspect();
  assert.equal(after.secureElement.securityCounter, 40);
  assert.equal(after.secureElement.delegationVersion, 2);
});
