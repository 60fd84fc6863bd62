// Bootloader behaviour that mutation testing (docs/ASSURANCE.md) showed no other test pinned: the
// staging bounds, the slot-size and chunk-size limits at their value, which errors become rejections
// and which stop the boot, the records an install, a rejection and a revert write, what is erased of
// the old firmware, and that a slot that is not what the boot state records is never started.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { SihlError } from '../../src/core/errors.ts';
import { BootStateStore, decodeBootState, idle } from '../../src/device/bootloader/boot-state.ts';
import { BOOT_CHUNK_MAX, boot } from '../../src/device/bootloader/bootloader.ts';
import type { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import {
  type CorpusImage,
  corpusDevice,
  corpusImages,
  envelopeOf,
  firmware,
  MODEL,
  packCorpusImage,
} from '../fuzz/corpus.ts';

const [encrypted, signedOnly] = (await corpusImages()) as [CorpusImage, CorpusImage];
const OLD = firmware(10_000, 42);
const factory = await corpusDevice(OLD, 16_384);
const fresh = () => factory.clone();
const dir = await mkdtemp(join(tmpdir(), 'sihl-boot-mutants-'));
after(() => rm(dir, { recursive: true, force: true }));

async function packed(
  size: number,
  chunkSize: number,
): Promise<{ bytes: Uint8Array; contentKey: Uint8Array }> {
  const input = join(dir, `fw-${size}-${chunkSize}.bin`);
  await writeFile(input, firmware(size, size));
  const output = `${input}.sihl`;
  const result = await packCorpusImage(input, output, {
    version: '9.0.0',
    securityVersion: 1,
    quality: 2,
    chunkSize,
  });
  return { bytes: new Uint8Array(await readFile(output)), contentKey: result.contentKey as Uint8Array };
}

function store(device: SimulatedDevice): BootStateStore {
  return new BootStateStore(device.flash, device.layout.bootState, device.secureElement);
}

/** Every boot-state record in the area, oldest first, decoded. */
function records(device: SimulatedDevice) {
  const { offset, size } = device.layout.bootState;
  const area = device.flash.read(offset, size);
  const out: { sequence: number; state: ReturnType<typeof decodeBootState> }[] = [];
  for (let at = 0; at < size; at += 1024) {
    const view = new DataView(area.buffer, area.byteOffset + at, 1024);
    const length = view.getUint16(2, true);
    if (area[at] !== 0x53 || length > 1012) continue;
    if (crc32(area.subarray(at, at + 8 + length)) !== view.getUint32(8 + length, true)) continue;
    out.push({
      sequence: view.getUint32(4, true),
      state: decodeBootState(area.slice(at + 8, at + 8 + length - 32)), // without the tag
    });
  }
  return out.sort((a, b) => a.sequence - b.sequence).map((r) => r.state);
}

function markPending(device: SimulatedDevice, stagedImage: number, stagedEnvelope: number): void {
  const s = store(device);
  s.write({
    ...(s.read() as NonNullable<ReturnType<BootStateStore['read']>>),
    phase: 'pending',
    stagedImage,
    stagedEnvelope,
  });
}

test('a pending update with nothing staged, or more than the staging slot holds, is STAGING_INVALID', async () => {
  const size = factory.layout.staging.size;
  for (const [image, envelope, reason] of [
    [0, 0, 'STAGING_INVALID'],
    [size - 10, 11, 'STAGING_INVALID'],
    [size - 10, 10, 'IMAGE_BAD_MAGIC'],
  ] as const) {
    const device = fresh();
    markPending(device, image, envelope);
    const report = await device.boot();
    assert.equal(report.reason, reason, `${image} + ${envelope}`);
    assert.deepEqual(device.executable(OLD.length), OLD);
  }
});

test('firmware larger than the executable slot is refused; chunks exactly as large as the bootloader buffers install', async () => {
  const device = fresh();
  const large = await packed(device.layout.executable.size + 1, 16 * 1024);
  device.stage(
    large.bytes,
    envelopeOf(
      { ...encrypted, ...large, manifestBytes: await manifestOf(large.bytes) },
      device.secureElement.identity().box,
    ),
  );
  assert.equal((await device.boot()).reason, 'LIMIT_EXCEEDED');
  const wide = await packed(3000, BOOT_CHUNK_MAX);
  const other = fresh();
  other.stage(
    wide.bytes,
    envelopeOf(
      { ...encrypted, ...wide, manifestBytes: await manifestOf(wide.bytes) },
      other.secureElement.identity().box,
    ),
  );
  const report = await other.boot();
  assert.equal(report.installed, true, report.reason);
});

async function manifestOf(bytes: Uint8Array): Promise<Uint8Array> {
  const { readImage, bufferSource } = await import('../../src/core/image/index.ts');
  return (await readImage(bufferSource(bytes))).manifestBytes;
}

test('a staged envelope of the wrong size is ENVELOPE_MALFORMED', async () => {
  const device = fresh();
  const envelope = envelopeOf(encrypted, device.secureElement.identity().box);
  device.stage(encrypted.bytes, envelope.subarray(0, envelope.length - 1));
  assert.equal((await device.boot()).reason, 'ENVELOPE_MALFORMED');
});

test('an error outside the verification family stops the boot instead of rejecting the update', async () => {
  const device = fresh();
  device.stage(encrypted.bytes, envelopeOf(encrypted, device.secureElement.identity().box));
  const se = device.secureElement;
  const failing = new Proxy(se, {
    get(target, property) {
      if (property === 'openEnvelope')
        return () => {
          throw new SihlError('IO_ERROR', 'secure element bus error');
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await assert.rejects(
    boot({ flash: device.flash, layout: device.layout, secureElement: failing, model: MODEL }),
    /bus error/,
  );
  assert.equal(device.bootState()?.phase, 'pending', 'the next boot tries again');
  assert.deepEqual(device.executable(OLD.length), OLD);
});

test('an install writes backup, writing, installed, then trial; a sector that does not read back stops it at writing', async () => {
  const device = fresh();
  device.stage(signedOnly.bytes);
  const report = await device.boot();
  assert.equal(report.installed, true);
  const phases = records(device).map((s) => [s.phase, s.attempts, s.reason]);
  assert.deepEqual(phases.slice(-5), [
    ['pending', 0, ''],
    ['backup', 1, ''],
    ['writing', 1, ''],
    ['installed', 1, ''],
    ['trial', 1, ''],
  ]);
  // Flash that drops a bit of every write into the executable slot, under firmware of three sectors.
  const bad = fresh();
  const three = await packed(12_000, 16 * 1024);
  bad.stage(
    three.bytes,
    envelopeOf(
      { ...encrypted, ...three, manifestBytes: await manifestOf(three.bytes) },
      bad.secureElement.identity().box,
    ),
  );
  const { executable } = bad.layout;
  let slotWrites = 0;
  const flash = new Proxy(bad.flash, {
    get(target, property) {
      if (property === 'write')
        return (offset: number, data: Uint8Array) => {
          const copy = new Uint8Array(data);
          const inSlot = offset >= executable.offset && offset < executable.offset + executable.size;
          if (inSlot) slotWrites++;
          const at = copy.findIndex((b) => b !== 0);
          // NOR flash can only clear bits: clear the lowest set bit of the first byte that has one.
          if (inSlot && at >= 0) copy[at] = (copy[at] as number) & ((copy[at] as number) - 1);
          target.write(offset, copy);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await assert.rejects(
    boot({ flash, layout: bad.layout, secureElement: bad.secureElement, model: MODEL }),
    (e) => e instanceof SihlError && e.code === 'INTERNAL' && /does not read back as written/.test(e.message),
  );
  // Each sector is read back as it is written: the first that does not hold its bytes stops the pass.
  assert.equal(slotWrites, 1, 'no sector is written after one that did not read back');
  const state = bad.bootState();
  assert.deepEqual([state?.phase, state?.attempts, state?.reason], ['writing', 1, '']);
});

test('a refusal once the slot is being written reverts to the backup; one before leaves the slot alone', async () => {
  const device = fresh();
  device.stage(signedOnly.bytes);
  // Power goes at the first write of new firmware into the executable slot, after the backup is made.
  const { executable } = device.layout;
  const flash = new Proxy(device.flash, {
    get(target, property) {
      if (property === 'write')
        return (offset: number, data: Uint8Array) => {
          if (offset >= executable.offset && offset < executable.offset + executable.size)
            throw new Error('cut');
          target.write(offset, data);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await assert.rejects(
    boot({ flash, layout: device.layout, secureElement: device.secureElement, model: MODEL }),
    /cut/,
  );
  assert.equal(device.bootState()?.phase, 'writing');
  // Staging changes while the device is off: the next boot's pass meets it in the payload.
  const last = device.layout.staging.offset + signedOnly.bytes.length - 1;
  device.flash.memory[last] = (device.flash.memory[last] as number) ^ 1;
  const report = await device.boot();
  assert.equal(report.reason, 'PAYLOAD_DIGEST_MISMATCH');
  assert.deepEqual([report.outcome, report.running.version, report.intact], ['rejected', '1.0.0', true]);
  assert.deepEqual(device.executable(OLD.length), OLD);
  assert.deepEqual(
    records(device)
      .slice(-2)
      .map((r) => r.phase),
    ['reverting', 'idle'],
  );
  const before = fresh();
  markPending(before, 100, 0);
  const kept = await before.boot();
  assert.deepEqual([kept.reason, kept.running.version, kept.intact], ['IMAGE_BAD_MAGIC', '1.0.0', true]);
});

test('a boot that finds installed or rejected finishes erasing staging and reports what happened', async () => {
  const running = {
    size: OLD.length,
    digest: (factory.bootState() as NonNullable<ReturnType<SimulatedDevice['bootState']>>).running.digest,
    version: '1.0.0',
  };
  const device = fresh();
  store(device).write({ ...idle(running), phase: 'installed', attempts: 2 });
  const installed = await device.boot();
  assert.deepEqual(
    [installed.outcome, installed.installed, installed.trial, installed.reason, installed.intact],
    ['booted', true, true, undefined, true],
  );
  assert.equal(device.bootState()?.phase, 'trial');
  const other = fresh();
  store(other).write({ ...idle(running, 'SIGNATURE_INVALID'), phase: 'rejected' });
  const rejected = await other.boot();
  assert.deepEqual(
    [rejected.outcome, rejected.installed, rejected.reason],
    ['rejected', false, 'SIGNATURE_INVALID'],
  );
});

test('an install erases the old firmware up to its end only, or the whole slot when its size is unknown', async () => {
  const device = fresh();
  const { executable } = device.layout;
  const sector = device.flash.geometry.sectorSize;
  const sectorOf = (at: number) => (executable.offset + at) / sector;
  const erasesBefore = Array.from(device.flash.erases);
  device.stage(signedOnly.bytes);
  assert.equal((await device.boot()).installed, true);
  // OLD is 10,000 bytes: sectors 0 to 2 held it; sector 3 was never written and is not erased again.
  assert.equal(device.flash.erases[sectorOf(3 * sector)], erasesBefore[sectorOf(3 * sector)]);
  assert.ok(
    (device.flash.erases[sectorOf(2 * sector)] as number) > (erasesBefore[sectorOf(2 * sector)] as number),
  );
  assert.ok(
    device
      .executable(executable.size)
      .subarray(signedOnly.firmware.length)
      .every((b) => b === 0xff),
  );
  // A device that lost its boot state does not know where its firmware ends: the whole slot goes.
  const lost = fresh();
  const { bootState } = lost.layout;
  for (let at = 0; at < bootState.size; at += sector) lost.flash.erase(bootState.offset + at);
  const corrupt = await lost.boot();
  assert.deepEqual(
    [corrupt.reason, corrupt.running.version, corrupt.intact],
    ['BOOT_STATE_CORRUPT', 'unknown', false],
  );
  lost.stage(signedOnly.bytes);
  assert.equal((await lost.boot()).installed, true);
  assert.ok(
    lost
      .executable(executable.size)
      .subarray(signedOnly.firmware.length)
      .every((b) => b === 0xff),
    'nothing of the old firmware is left',
  );
});

test('a slot that does not match the recorded digest is never started: the boot halts', async () => {
  const device = fresh();
  assert.equal((await device.boot()).intact, true);
  device.flash.erase(device.layout.executable.offset);
  const report = await device.boot();
  assert.deepEqual([report.outcome, report.intact], ['halted', false]);
});
