// Edges of the boot-state encoding (docs/BOOT.md §Boot state) that mutation testing (docs/ASSURANCE.md)
// showed no other test pinned: the field layout, the 255 cap on attempts, the 64-byte texts, and a store
// that reads null rather than throwing for anything it cannot decode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import {
  type BootState,
  BootStateStore,
  decodeBootState,
  encodeBootState,
  idle,
} from '../../src/device/bootloader/boot-state.ts';
import { RecordLog } from '../../src/device/flash/record-log.ts';
import { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';

const running = { size: 0x01020304, digest: new Uint8Array(32).fill(0xab), version: 'v'.repeat(64) };
const state: BootState = {
  phase: 'installing',
  running,
  stagedImage: 0x0a0b0c0d,
  stagedEnvelope: 0xffffffff,
  attempts: 7,
  reason: 'R'.repeat(64),
};

test('a boot state is laid out field by field, little-endian, texts with a length byte', () => {
  const bytes = encodeBootState({ ...state, running: { ...running, version: '1.0' }, reason: '' });
  assert.equal(
    toHex(bytes),
    `0207${'04030201'}${'ab'.repeat(32)}${'0d0c0b0a'}${'ffffffff'}03${toHex(new TextEncoder().encode('1.0'))}00`,
  );
  assert.deepEqual(decodeBootState(encodeBootState(state)), state);
  const payload = encodeBootState(state);
  const decoded = decodeBootState(payload);
  payload.fill(0);
  assert.deepEqual(decoded.running.digest, running.digest, 'the digest is a copy, not a view of the record');
  for (const phase of ['idle', 'pending', 'installing', 'installed', 'rejected'] as const) {
    assert.equal(decodeBootState(encodeBootState({ ...state, phase })).phase, phase);
  }
});

test('attempts stop counting at 255, and texts are kept to 64 bytes', () => {
  assert.equal(decodeBootState(encodeBootState({ ...state, attempts: 255 })).attempts, 255);
  assert.equal(decodeBootState(encodeBootState({ ...state, attempts: 1000 })).attempts, 255);
  const long = decodeBootState(encodeBootState({ ...state, reason: `${'x'.repeat(64)}yz` }));
  assert.equal(long.reason, 'x'.repeat(64));
});

test('an unknown phase, a text over 64 bytes, or bytes after the last field are refused', () => {
  const bytes = encodeBootState(state);
  const phase = new Uint8Array(bytes);
  phase[0] = 5;
  const refused = (b: Uint8Array, message: RegExp) =>
    assert.throws(
      () => decodeBootState(b),
      (e) => isSihlError(e, 'INTERNAL') && message.test(e.message),
    );
  refused(phase, /^boot state: unknown phase/);
  const text = new Uint8Array(bytes);
  text[46] = 65; // the version's length byte
  refused(text, /^boot state: text too long/);
  refused(new Uint8Array([...bytes, 0]), /trailing/);
  refused(bytes.subarray(0, bytes.length - 1), /needs/);
});

test('idle keeps the running firmware, clears what was staged, and records a reason only when given', () => {
  assert.deepEqual(idle(running), {
    phase: 'idle',
    running,
    stagedImage: 0,
    stagedEnvelope: 0,
    attempts: 0,
    reason: '',
  });
  assert.equal(idle(running, 'WHY').reason, 'WHY');
});

test('the store reads null for an erased area or a record it cannot decode, and the newest state otherwise', () => {
  const flash = new SimulatedFlash({ size: 4 * 4096, sectorSize: 4096, writeSize: 8 });
  const region = { offset: 4096, size: 2 * 4096 };
  const store = new BootStateStore(flash, region);
  assert.equal(store.read(), null);
  store.reset(state);
  assert.deepEqual(store.read(), state);
  store.write(idle(running));
  assert.deepEqual(store.read(), idle(running));
  new RecordLog(flash, region, 256).append(Uint8Array.of(9, 9, 9));
  assert.equal(store.read(), null, 'a record with a valid checksum but an unknown phase');
  store.reset(idle(running, 'AGAIN'));
  assert.deepEqual(store.read(), idle(running, 'AGAIN'), 'reset starts the area afresh');
  assert.ok(
    flash.read(region.offset + 256, 256).every((b) => b === 0xff),
    'one record after a reset',
  );
});
