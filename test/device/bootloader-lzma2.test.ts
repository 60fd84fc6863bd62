// The TypeScript bootloader decodes LZMA2 images (FORMAT.md §Compression, algorithm 2), the ones the C
// bootloader decodes on a microcontroller, and refuses a signed LZMA2 payload that breaks a rule
// before it touches the executable slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { craftImage, lzma2Of } from '../../docs/vectors/craft.ts';
import {
  assertSameBytes,
  assertStagingErased,
  deviceRunningOld,
  envelopeFor,
  MODEL,
  NEW,
  OLD,
  pack,
  trust,
} from './support.ts';

const factory = await deviceRunningOld('1.0.0', 64 * 1024);

for (const encrypt of [true, false]) {
  test(`installs ${encrypt ? 'an encrypted' : 'a signed-only'} LZMA2 image`, async () => {
    const device = factory.clone();
    const image = await pack(NEW, { model: MODEL, compression: 'lzma2', windowLog: 14, encrypt });
    device.stage(image.bytes, envelopeFor(device, image));
    const report = await device.boot();
    assert.equal(report.outcome, 'booted', report.reason);
    assert.equal(report.installed, true);
    assertSameBytes(device.executable(NEW.length), NEW, 'executable slot');
  });
}

test('refuses a signed LZMA2 payload with a byte after its end marker and keeps the old firmware', async () => {
  const device = factory.clone();
  const stream = lzma2Of(NEW, 14);
  const { image } = craftImage(
    {
      firmware: NEW,
      delegation: trust.delegation,
      signers: trust.approvers.slice(0, 2),
      releaseId: new Uint8Array(16),
      created: 1_700_000_000,
      model: MODEL,
    },
    { compressed: Buffer.concat([stream, Uint8Array.of(0)]), windowLog: 14 },
  );
  device.stage(image);
  const report = await device.boot();
  assert.equal(report.outcome, 'rejected');
  assert.equal(report.reason, 'DECOMPRESS_FAILED');
  assertSameBytes(device.executable(OLD.length), OLD, 'executable slot');
  assertStagingErased(device);
});
