// Edges of the boot-state encoding (docs/BOOT.md §Boot state) that mutation testing (docs/ASSURANCE.md)
// showed no other test pinned: the field layout, the 255 cap on attempts, the 64-byte texts, the root
// carried until confirmation, the secure element's tag over every record, and a store that reads null
// rather than throwing for anything it cannot decode or authenticate.
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
  NO_ADVANCE,
  UNKNOWN,
} from '../../src/device/bootloader/boot-state.ts';
import { RecordLog } from '../../src/device/flash/record-log.ts';
import { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedSecureElement } from '../../src/device/secure-element/simulated-secure-element.ts';
import { trust } from './support.ts';

const running = { size: 0x01020304, digest: new Uint8Array(32).fill(0xab), version: 'v'.repeat(64) };
const previous = { size: 5, digest: new Uint8Array(32).fill(0xcd), version: '1.0' };
const state: BootState = {
  phase: 'writing',
  running,
  previous,
  stagedImage: 0x0a0b0c0d,
  stagedEnvelope: 0xffffffff,
  stagedManifest: new Uint8Array(32).fill(0xee),
  attempts: 7,
  reason: 'R'.repeat(64),
  advance: {
    securityVersion: 3,
    delegationVersion: 2,
    root: { version: 4, threshold: 1, keys: [new Uint8Array(32).fill(1)] },
  },
};
const hex = (text: string) => toHex(new TextEncoder().encode(text));

test('a boot state is laid out field by field, little-endian, texts with a length byte', () => {
  const small = { ...state, running: { ...running, version: '1.0' }, reason: '', advance: NO_ADVANCE };
  assert.equal(
    toHex(encodeBootState(small)),
    `0307${'04030201'}${'ab'.repeat(32)}03${hex('1.0')}${'05000000'}${'cd'.repeat(32)}03${hex('1.0')}` +
      `${'0d0c0b0a'}${'ffffffff'}${'ee'.repeat(32)}00${'00000000'.repeat(3)}0000`,
  );
  assert.ok(
    toHex(encodeBootState(state)).endsWith(`${'03000000'}${'02000000'}${'04000000'}0101${'01'.repeat(32)}`),
    'the advance: security, delegation, root version, threshold, key count, keys',
  );
  assert.deepEqual(decodeBootState(encodeBootState(state)), state);
  const payload = encodeBootState(state);
  const decoded = decodeBootState(payload);
  payload.fill(0);
  assert.deepEqual(decoded.running.digest, running.digest, 'the digest is a copy, not a view of the record');
  const phases = [
    'idle',
    'pending',
    'backup',
    'writing',
    'installed',
    'trial',
    'confirmed',
    'reverting',
    'rejected',
  ];
  phases.forEach((phase, code) => {
    const bytes = encodeBootState({ ...state, phase: phase as BootState['phase'] });
    assert.deepEqual([bytes[0], decodeBootState(bytes).phase], [code, phase]);
  });
});

test('attempts stop counting at 255, and texts are kept to 64 bytes', () => {
  assert.equal(decodeBootState(encodeBootState({ ...state, attempts: 255 })).attempts, 255);
  assert.equal(decodeBootState(encodeBootState({ ...state, attempts: 1000 })).attempts, 255);
  const long = decodeBootState(encodeBootState({ ...state, reason: `${'x'.repeat(64)}yz` }));
  assert.equal(long.reason, 'x'.repeat(64));
});

test('an unknown phase, a text over 64 bytes, more than 16 root keys, or bytes after the last field are refused', () => {
  const bytes = encodeBootState(state);
  const refused = (b: Uint8Array, message: RegExp) =>
    assert.throws(
      () => decodeBootState(b),
      (e) => isSihlError(e, 'INTERNAL') && message.test(e.message),
    );
  const phase = new Uint8Array(bytes);
  phase[0] = 9;
  refused(phase, /^boot state: unknown phase/);
  const text = new Uint8Array(bytes);
  text[38] = 65; // the running version's length byte
  refused(text, /^boot state: text too long/);
  const keys = new Uint8Array(bytes);
  keys[bytes.length - 33] = 17;
  refused(keys, /more than 16 root keys/);
  refused(new Uint8Array([...bytes, 0]), /trailing/);
  refused(bytes.subarray(0, bytes.length - 1), /needs/);
});

test('idle keeps the running firmware, clears what was staged and the backup, and records a reason only when given', () => {
  assert.deepEqual(idle(running), {
    phase: 'idle',
    attempts: 0,
    running,
    previous: UNKNOWN,
    stagedImage: 0,
    stagedEnvelope: 0,
    stagedManifest: new Uint8Array(32),
    reason: '',
    advance: NO_ADVANCE,
  });
  assert.equal(idle(running, 'WHY').reason, 'WHY');
});

test('the store reads null for an erased area, a record without the tag of this secure element, or one it cannot decode', () => {
  const flash = new SimulatedFlash({ size: 16 * 4096, sectorSize: 4096, writeSize: 8 });
  const element = SimulatedSecureElement.provision(flash, { offset: 3 * 4096, size: 5 * 4096 }, trust.root);
  const other = SimulatedSecureElement.provision(flash, { offset: 8 * 4096, size: 5 * 4096 }, trust.root);
  const region = { offset: 4096, size: 2 * 4096 };
  const store = new BootStateStore(flash, region, element);
  assert.equal(store.read(), null);
  store.reset(state);
  assert.deepEqual(store.read(), state);
  store.write(idle(running));
  assert.deepEqual(store.read(), idle(running));
  new BootStateStore(flash, region, other).write(idle(previous, 'FORGED'));
  assert.deepEqual(store.read(), idle(running), 'a record tagged by another secure element is not the state');
  new RecordLog(flash, region, 1024).append(new Uint8Array(64).fill(9));
  assert.deepEqual(store.read(), idle(running), 'nor one with a valid checksum and no tag');
  store.reset(idle(running, 'AGAIN'));
  assert.deepEqual(store.read(), idle(running, 'AGAIN'), 'reset starts the area afresh');
  assert.ok(
    flash.read(region.offset + 1024, 1024).every((b) => b === 0xff),
    'one record after a reset',
  );
});
