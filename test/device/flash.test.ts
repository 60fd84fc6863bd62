// The simulated NOR flash keeps the rules of real parts (erase to 0xFF, program 1 → 0 only, aligned
// access) and loses power exactly where a test asks, tearing the operation it was in if told to.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import { PowerCut, SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { seeded } from './support.ts';

const SECTOR = 256;
const WORD = 8;

function flash(sectors = 4): SimulatedFlash {
  return new SimulatedFlash({ size: sectors * SECTOR, sectorSize: SECTOR, writeSize: WORD });
}

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

function flashFault(error: unknown): boolean {
  return isSihlError(error) && error.code === 'FLASH_FAULT';
}

describe('the rules of NOR flash', () => {
  test('a new flash reads as erased', () => {
    assert.ok(
      flash()
        .read(0, 4 * SECTOR)
        .every((b) => b === 0xff),
    );
  });

  test('erase sets a whole sector to 0xFF and counts wear per sector', () => {
    const f = flash();
    f.write(SECTOR, filled(SECTOR, 0x00));
    f.write(2 * SECTOR, filled(SECTOR, 0x00));
    f.erase(SECTOR);
    assert.ok(
      f.read(SECTOR, SECTOR).every((b) => b === 0xff),
      'the erased sector is 0xFF',
    );
    assert.ok(
      f.read(2 * SECTOR, SECTOR).every((b) => b === 0x00),
      'the next sector is left alone',
    );
    f.erase(SECTOR);
    f.erase(3 * SECTOR);
    assert.deepEqual([...f.erases], [0, 2, 0, 1]);
    assert.equal(f.erasures, 3);
  });

  test('a write only turns 1 bits into 0, so programming over written bits that stay 0 is allowed', () => {
    const f = flash();
    f.write(0, filled(WORD, 0x0f));
    f.write(0, filled(WORD, 0x0e));
    assert.deepEqual([...f.read(0, WORD)], [...filled(WORD, 0x0e)]);
  });

  test('programming a 0 bit back to 1 throws FLASH_FAULT and changes nothing', () => {
    const f = flash();
    f.write(0, filled(WORD, 0x0f));
    const operations = f.operations;
    assert.throws(() => f.write(0, filled(WORD, 0xf0)), flashFault);
    assert.deepEqual([...f.read(0, WORD)], [...filled(WORD, 0x0f)]);
    assert.equal(f.operations, operations, 'a refused write is not an operation');
  });

  test('misaligned writes and erases throw FLASH_FAULT', () => {
    const f = flash();
    assert.throws(() => f.write(4, filled(WORD, 0)), flashFault, 'offset not a multiple of the word');
    assert.throws(() => f.write(0, filled(WORD + 1, 0)), flashFault, 'length not a multiple of the word');
    assert.throws(() => f.erase(SECTOR / 2), flashFault, 'erase not at a sector start');
    assert.throws(() => f.erase(4 * SECTOR), flashFault, 'erase past the end');
    assert.throws(() => f.write(4 * SECTOR - WORD, filled(2 * WORD, 0)), flashFault, 'write past the end');
    assert.ok(
      f.read(0, 4 * SECTOR).every((b) => b === 0xff),
      'nothing was written',
    );
  });

  test('a read is a copy, into a buffer of the caller or a new one: writes and erases after it leave it alone', () => {
    const f = flash();
    f.write(0, filled(SECTOR, 0x5a));
    const buffer = filled(2 * SECTOR, 0x11);
    const into = f.read(0, SECTOR, buffer);
    const fresh = f.read(0, SECTOR);
    assert.equal(into.buffer, buffer.buffer, 'read into the buffer given');
    assert.equal(into.length, SECTOR);
    f.erase(0);
    into[0] = 0;
    fresh[1] = 0;
    assert.deepEqual([into[1], fresh[0], buffer[SECTOR]], [0x5a, 0x5a, 0x11]);
    assert.ok(
      f.read(0, SECTOR).every((b) => b === 0xff),
      'changing what was read changes no flash',
    );
    assert.equal(
      f.read(0, 2 * SECTOR, filled(SECTOR, 0)).length,
      2 * SECTOR,
      'a buffer too small is not used',
    );
  });
});

describe('power cuts', () => {
  test('a cut after k operations ends the k-th operation with PowerCut, completed, and fails every later one', () => {
    const f = flash();
    f.write(0, filled(WORD, 0x11)); // before the plan: not counted towards it
    f.cutPower({ after: 3, tear: false });
    f.write(WORD, filled(WORD, 0x22));
    f.erase(SECTOR);
    assert.throws(
      () => f.write(2 * WORD, filled(WORD, 0x33)),
      (e: unknown) => e instanceof PowerCut && e.operation === 4,
    );
    assert.deepEqual([...f.read(2 * WORD, WORD)], [...filled(WORD, 0x33)], 'the k-th write completed');
    assert.throws(() => f.write(3 * WORD, filled(WORD, 0x44)), PowerCut);
    assert.throws(() => f.erase(0), PowerCut);
    assert.throws(() => f.write(3 * WORD, filled(WORD, 0x44)), PowerCut);
    assert.deepEqual([...f.read(3 * WORD, WORD)], [...filled(WORD, 0xff)], 'later writes did nothing');
    assert.deepEqual([...f.read(0, WORD)], [...filled(WORD, 0x11)], 'a later erase did nothing');
    assert.equal(f.operations, 4);
  });

  test('a torn write leaves a prefix of its words programmed, the same for the same seed', () => {
    const words = 16;
    const data = filled(words * WORD, 0x00);
    const incomplete = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const run = () => {
        const f = flash();
        f.cutPower({ after: 1, tear: true, random: seeded(seed) });
        assert.throws(() => f.write(SECTOR, data), PowerCut);
        return f.read(SECTOR, words * WORD);
      };
      const after = run();
      assert.deepEqual([...run()], [...after], `seed ${seed} tears the same way twice`);
      // Whole words programmed, then at most one partly programmed word, then untouched words.
      let w = 0;
      const word = (i: number) => after.subarray(i * WORD, (i + 1) * WORD);
      while (w < words && word(w).every((b) => b === 0x00)) w++;
      if (w < words) {
        assert.ok(
          word(w).every((b) => b === 0x00 || b === 0xff),
          `seed ${seed}: the torn word holds only old or new bytes`,
        );
        for (let rest = w + 1; rest < words; rest++) {
          assert.ok(
            word(rest).every((b) => b === 0xff),
            `seed ${seed}: word ${rest} after the torn one is untouched`,
          );
        }
        incomplete.add(w);
      }
    }
    assert.ok(incomplete.size >= 5, `tears stop at various words (${[...incomplete].join(', ')})`);
  });

  test('a torn erase leaves the sector neither fully erased nor as it was', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const f = flash();
      f.write(SECTOR, filled(SECTOR, 0x00));
      f.cutPower({ after: 1, tear: true, random: seeded(seed) });
      assert.throws(() => f.erase(SECTOR), PowerCut);
      const sector = f.read(SECTOR, SECTOR);
      assert.ok(!sector.every((b) => b === 0xff), `seed ${seed}: not fully erased`);
      assert.ok(!sector.every((b) => b === 0x00), `seed ${seed}: not as before`);
      assert.ok(
        f.read(0, SECTOR).every((b) => b === 0xff) && f.read(2 * SECTOR, SECTOR).every((b) => b === 0xff),
        'neighbouring sectors are untouched',
      );
    }
  });

  test('powerOn makes the flash work again, with the bytes as the cut left them', () => {
    const f = flash();
    f.cutPower({ after: 1, tear: false });
    assert.throws(() => f.write(0, filled(WORD, 0x55)), PowerCut);
    assert.throws(() => f.write(WORD, filled(WORD, 0x66)), PowerCut);
    f.powerOn();
    assert.deepEqual([...f.read(0, WORD)], [...filled(WORD, 0x55)]);
    f.write(WORD, filled(WORD, 0x66));
    f.erase(SECTOR);
    f.write(2 * WORD, filled(WORD, 0x77));
    assert.deepEqual([...f.read(WORD, 2 * WORD)], [...filled(WORD, 0x66), ...filled(WORD, 0x77)]);
  });

  test('cutPower counts from the next operation, and undefined disarms it', () => {
    const f = flash();
    for (let i = 0; i < 5; i++) f.write(i * WORD, filled(WORD, 0));
    f.cutPower({ after: 1, tear: false });
    assert.throws(() => f.erase(0), PowerCut);
    f.powerOn();
    f.cutPower({ after: 1, tear: false });
    f.cutPower(undefined);
    f.erase(0);
    f.erase(SECTOR);
    assert.equal(f.operations, 8);
  });
});
