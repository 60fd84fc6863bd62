// The NOR flash port on the Cortex-M4 itself, in QEMU: the rules a real part enforces (erase to 0xFF,
// program only erased words at write-size alignment, nothing outside the flash), the operation count and
// a power cut injected after the n-th operation, whose flash contents survive into the flash file.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { tempDir } from '../helpers.ts';
import { BUILD_DIR, buildTarget, runQemu, STATUS, skipTarget } from './qemu-harness.ts';

const SECTOR = 4096;
const WORD = 8;
const ELF = join(BUILD_DIR, 'nor-check.elf');

before(async () => {
  if (!skipTarget) await buildTarget('nor-check');
});

/** A flash of eight sectors that all hold data (nothing erased). */
async function flashFile(): Promise<string> {
  const path = join(await tempDir(), 'flash.bin');
  await writeFile(path, new Uint8Array(8 * SECTOR).fill(0x11));
  return path;
}

const results = (output: string) =>
  [...output.matchAll(/^(.+): (ok|outside|misaligned|not-erased)$/gm)].map((m) => [m[1], m[2]]);

test('the flash port keeps NOR rules on the target and the flash file holds the result', {
  skip: skipTarget,
}, async () => {
  const path = await flashFile();
  const run = await runQemu(ELF, { flash: path });
  assert.equal(run.status, STATUS.ok, run.output);
  const r = results(run.output);
  assert.deepEqual(r.slice(0, 11), [
    ['erase sector 1', 'ok'],
    ['program a word into erased sector 1', 'ok'],
    ['program the same word again', 'not-erased'],
    ['program at an unaligned offset', 'misaligned'],
    ['program an unaligned length', 'misaligned'],
    ['erase not at a sector start', 'misaligned'],
    ['program past the end', 'outside'],
    ['erase past the end', 'outside'],
    ['program into sector 2 that holds data', 'not-erased'],
    ['read past the end', 'outside'],
    ['erase sector 3', 'ok'],
  ]);
  assert.equal(r.length, 11 + 16);
  assert.equal(run.operations, 2 + 1 + 16, 'refused operations are not counted');

  const flash = new Uint8Array(await readFile(path));
  assert.deepEqual(flash.subarray(0, SECTOR), new Uint8Array(SECTOR).fill(0x11), 'sector 0 untouched');
  assert.deepEqual(
    [...flash.subarray(SECTOR, SECTOR + WORD)],
    [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7],
  );
  assert.ok(
    flash.subarray(SECTOR + WORD, 2 * SECTOR).every((b) => b === 0xff),
    'the rest of the erased sector reads 0xFF',
  );
  assert.ok(
    flash.subarray(2 * SECTOR, 3 * SECTOR).every((b) => b === 0x11),
    'a refused program changes nothing',
  );
  for (let i = 0; i < 16; i++) {
    assert.ok(flash.subarray(3 * SECTOR + i * WORD, 3 * SECTOR + (i + 1) * WORD).every((b) => b === i + 1));
  }
  assert.ok(flash.subarray(4 * SECTOR).every((b) => b === 0x11));
});

test('a power cut after the n-th operation stops the program and leaves exactly n operations in flash', {
  skip: skipTarget,
}, async () => {
  const path = await flashFile();
  // Operations: erase 1, program 1, erase 3, then the words of sector 3; the cut falls after the 5th word.
  const run = await runQemu(ELF, { flash: path, cutAfter: 8 });
  assert.equal(run.status, STATUS.powerCut, run.output);
  assert.match(run.output, /power cut after operation 8/);
  assert.equal(results(run.output).filter(([, r]) => r === 'ok').length, 7, 'the 8th never returned');
  const flash = new Uint8Array(await readFile(path));
  for (let i = 0; i < 5; i++) {
    assert.ok(flash.subarray(3 * SECTOR + i * WORD, 3 * SECTOR + (i + 1) * WORD).every((b) => b === i + 1));
  }
  assert.ok(
    flash.subarray(3 * SECTOR + 5 * WORD, 4 * SECTOR).every((b) => b === 0xff),
    'nothing after the cut',
  );
});

test('a torn erase leaves part of the sector as it was', { skip: skipTarget }, async () => {
  const path = await flashFile();
  const run = await runQemu(ELF, { flash: path, cutAfter: 1, tear: true });
  assert.equal(run.status, STATUS.powerCut, run.output);
  const flash = new Uint8Array(await readFile(path));
  const sector = flash.subarray(SECTOR, 2 * SECTOR);
  assert.ok(sector.some((b) => b === 0xff) && sector.some((b) => b === 0x11), 'neither erased nor untouched');
});
