// The C core alone on the Cortex-M4, in QEMU, on image format 2: install-bench.elf verifies the update
// that the CLI staged on a `sihl sim device` (Pybricks 7.27.0 to 7.28.0, LZMA2), opens its key envelope
// and unpacks it, checking the chunk chain chunk by chunk and both digests at the end. It reads staging
// only, so it does not depend on the boot flow (docs/CORTEX-M4.md §Status).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DEFAULT_CHUNK_BYTES } from '../../src/core/image/pack.ts';
import { tempDir } from '../helpers.ts';
import { type Device, stagedDevice, type UpdateOptions } from './qemu-device.ts';
import { BUILD_DIR, buildTarget, runQemu, STATUS, skipTarget } from './qemu-harness.ts';

const ELF = join(BUILD_DIR, 'install-bench.elf');

before(async () => {
  if (!skipTarget) await buildTarget('install-bench');
});

/** The steps install-bench reports: verify, open-envelope (encrypted only), unpack. */
async function unpackOnTarget(d: Device) {
  const run = await runQemu(ELF, {
    flash: d.flash,
    sectorSize: d.sectorSize,
    writeSize: d.writeSize,
    extra: [...d.words, `image=${d.imageBytes}`, `envelope=${d.envelopeBytes}`],
  });
  const steps = Object.fromEntries(
    [...run.output.matchAll(/^(verify|open-envelope|unpack) result=(\S+) bytes=(\d+)/gm)].map((m) => [
      m[1],
      { result: m[2], bytes: Number(m[3]) },
    ]),
  );
  return { run, steps };
}

async function device(update: UpdateOptions): Promise<Device> {
  return stagedDevice(await tempDir(), update);
}

for (const encrypt of [true, false]) {
  const what = encrypt ? 'an encrypted' : 'a signed-only';
  test(`the core on the target verifies and unpacks ${what} format 2 update to the signed firmware`, {
    skip: skipTarget,
  }, async () => {
    const d = await device({ encrypt });
    const { run, steps } = await unpackOnTarget(d);
    assert.equal(run.status, STATUS.ok, run.output);
    assert.equal(steps.verify?.result, 'OK', run.output);
    if (encrypt) assert.equal(steps['open-envelope']?.result, 'OK', run.output);
    // The plaintext digest is checked at the end of the unpack: OK means these bytes are the firmware.
    assert.deepEqual(steps.unpack, { result: 'OK', bytes: d.newFirmware.length }, run.output);
  });
}

test('the core on the target refuses a staged image with one payload byte changed in its second chunk', {
  skip: skipTarget,
}, async () => {
  const d = await device({ encrypt: true });
  const image = Buffer.from(await readFile(join(d.dir, 'new.sihl')));
  const payloadAt =
    32 + image.readUInt32LE(8) + image.readUInt32LE(12) + image.readUInt32LE(16) + image.readUInt32LE(20);
  // FORMAT.md §Chunk chain: stored chunk 1 starts after piece 0 (chunk size + 17) and its link (32).
  const at = payloadAt + DEFAULT_CHUNK_BYTES + 17 + 32 + 5;
  assert.ok(at < image.length, 'the image has a second stored chunk');
  const layout = JSON.parse(await readFile(join(d.dir, 'hub', 'device.json'), 'utf8')).layout;
  const flash = new Uint8Array(await readFile(d.flash));
  flash[layout.staging.offset + at] = (flash[layout.staging.offset + at] ?? 0) ^ 0x01;
  await writeFile(d.flash, flash);
  const { run, steps } = await unpackOnTarget(d);
  assert.equal(steps.verify?.result, 'PAYLOAD_DIGEST_MISMATCH', run.output);
});
