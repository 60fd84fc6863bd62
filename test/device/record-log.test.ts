// The record log keeps small state in two flash sectors so that a power cut at any point leaves the
// last completed record readable: torn records are skipped, full sectors are compacted into the other.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { type LogRecord, newerSequence, RecordLog } from '../../src/device/flash/record-log.ts';
import { PowerCut, SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { randomBytes, seeded } from './support.ts';

const SECTOR = 256;
const RECORD = 32; // eight records per sector
const PER_SECTOR = SECTOR / RECORD;
const MAX_PAYLOAD = RECORD - 12;
// The log sits in sectors 1 and 2; sectors 0 and 3 must never be touched.
const REGION = { offset: SECTOR, size: 2 * SECTOR };

function newFlash(): SimulatedFlash {
  return new SimulatedFlash({ size: 4 * SECTOR, sectorSize: SECTOR, writeSize: 8 });
}

function copy(flash: SimulatedFlash): SimulatedFlash {
  return new SimulatedFlash(flash.geometry, flash.memory.slice(), flash.erases.slice());
}

/** A full-size payload naming `n`, so a record torn anywhere fails its checksum. */
function payload(n: number): Uint8Array {
  return new TextEncoder().encode(`record ${n}`.padEnd(MAX_PAYLOAD, '.'));
}

function text(record: LogRecord | null): string | null {
  return record ? new TextDecoder().decode(record.payload).replace(/\.+$/, '') : null;
}

function assertOutsideUntouched(flash: SimulatedFlash): void {
  assert.ok(
    flash.read(0, SECTOR).every((b) => b === 0xff) && flash.read(3 * SECTOR, SECTOR).every((b) => b === 0xff),
    'the log wrote outside its two sectors',
  );
}

describe('a record log', () => {
  test('latest() of an erased log is null', () => {
    assert.equal(new RecordLog(newFlash(), REGION, RECORD).latest(), null);
  });

  test('appends get increasing sequence numbers and latest() returns the last payload', () => {
    const flash = newFlash();
    const log = new RecordLog(flash, REGION, RECORD);
    const sequences: number[] = [];
    for (let n = 1; n <= 5; n++) {
      log.append(payload(n));
      const latest = log.latest();
      assert.equal(text(latest), `record ${n}`);
      sequences.push(latest?.sequence ?? -1);
    }
    assert.deepEqual(sequences, [1, 2, 3, 4, 5]);
    assert.equal(text(new RecordLog(flash, REGION, RECORD).latest()), 'record 5', 'a new reader sees it too');
    assertOutsideUntouched(flash);
  });

  test('keeps a short payload exactly, length included', () => {
    const log = new RecordLog(newFlash(), REGION, RECORD);
    log.append(Uint8Array.of(1, 2, 3));
    log.append(new Uint8Array(0));
    assert.deepEqual([...(log.latest()?.payload ?? [9])], []);
    log.append(Uint8Array.of(0xff, 0xff));
    assert.deepEqual([...(log.latest()?.payload ?? [])], [0xff, 0xff]);
  });

  test('a torn append leaves the previous record as latest, and the next append goes after the torn slot', () => {
    let tornSeen = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const flash = newFlash();
      const log = new RecordLog(flash, REGION, RECORD);
      log.append(payload(1));
      log.append(payload(2));
      flash.cutPower({ after: 1, tear: true, random: seeded(seed) });
      assert.throws(() => log.append(payload(3)), PowerCut);
      flash.powerOn();
      const torn = flash.read(REGION.offset + 2 * RECORD, RECORD);
      const latest = log.latest();
      // A tear can, rarely, program every word that matters: then the record is simply complete.
      assert.ok(['record 2', 'record 3'].includes(text(latest) ?? ''), `seed ${seed}: ${text(latest)}`);
      if (text(latest) === 'record 3') continue;
      tornSeen++;
      assert.equal(latest?.sequence, 2);
      log.append(payload(4));
      assert.equal(text(log.latest()), 'record 4');
      assert.equal(log.latest()?.sequence, 3, 'the torn record used no sequence number');
      const slot = torn.every((b) => b === 0xff) ? 2 : 3;
      const written = flash.read(REGION.offset + slot * RECORD, 2);
      assert.deepEqual([...written], [0x53, 0x52], `seed ${seed}: the new record is in slot ${slot}`);
      if (slot === 3) {
        assert.deepEqual(
          [...flash.read(REGION.offset + 2 * RECORD, RECORD)],
          [...torn],
          'the torn slot is never written again',
        );
      }
    }
    assert.ok(tornSeen >= 20, `most tears leave an unreadable record (${tornSeen} of 30)`);
  });

  test('filling a sector compacts into the other one, round after round', () => {
    const flash = newFlash();
    const log = new RecordLog(flash, REGION, RECORD);
    const total = 13 * PER_SECTOR + 3; // 107 records, thirteen compactions
    for (let n = 1; n <= total; n++) {
      log.append(payload(n));
      assert.equal(text(log.latest()), `record ${n}`);
    }
    assert.equal(log.latest()?.sequence, total);
    // Each compaction erases the sector it moves into: the two sectors wear alike.
    const [, first = 0, second = 0] = flash.erases;
    assert.equal(first + second, 13);
    assert.ok(Math.abs(first - second) <= 1, `erases ${first} and ${second}`);
    assertOutsideUntouched(flash);
  });

  test('garbage over the whole area reads as no record, and an append after it works', () => {
    const flash = newFlash();
    const log = new RecordLog(flash, REGION, RECORD);
    log.append(payload(1));
    flash.erase(REGION.offset);
    flash.erase(REGION.offset + SECTOR);
    flash.write(REGION.offset, randomBytes(2 * SECTOR, seeded(7)));
    assert.equal(log.latest(), null);
    log.append(payload(2));
    assert.equal(text(log.latest()), 'record 2');
    log.append(payload(3));
    assert.equal(text(log.latest()), 'record 3');
    assert.ok(log.latest()?.sequence === 2);
  });

  test('a record with a valid layout but a wrong checksum is skipped', () => {
    const flash = newFlash();
    const log = new RecordLog(flash, REGION, RECORD);
    log.append(payload(1));
    log.append(payload(2));
    // Clear one bit of the second record's payload, as a flipped cell would.
    const at = REGION.offset + RECORD + 8;
    const word = flash.read(at, 8);
    const byte = word[0] as number;
    word[0] = byte & (byte - 1); // clears its lowest 1 bit
    assert.notEqual(word[0], byte);
    flash.write(at, word);
    assert.equal(text(log.latest()), 'record 1');
  });

  test('sequence numbers wrap from 0xFFFFFFFF to 0 and keep rising, in serial-number order', () => {
    const flash = newFlash();
    // A log that has reached 0xFFFFFFFE: a record written by hand with that sequence number.
    const bytes = new Uint8Array(RECORD).fill(0xff);
    const body = payload(1);
    const view = new DataView(bytes.buffer);
    bytes.set([0x53, 0x52]);
    view.setUint16(2, body.length, true);
    view.setUint32(4, 0xfffffffe, true);
    bytes.set(body, 8);
    view.setUint32(8 + body.length, crc32(bytes.subarray(0, 8 + body.length)), true);
    flash.write(REGION.offset, bytes);
    const log = new RecordLog(flash, REGION, RECORD);
    for (const [n, sequence] of [
      [2, 0xffffffff],
      [3, 0],
      [4, 1],
    ] as const) {
      log.append(payload(n));
      assert.deepEqual([log.latest()?.sequence, text(log.latest())], [sequence, `record ${n}`]);
    }
    assert.equal(newerSequence(0, 0xffffffff), true);
    assert.equal(newerSequence(0xffffffff, 0), false);
    assert.equal(newerSequence(5, 5), false);
    assert.equal(newerSequence(0x80000004, 5), true, 'less than half the circle ahead is newer');
    assert.equal(newerSequence(0x80000005, 5), false, 'half the circle away or more is not');
  });

  test('a record its owner does not recognise (the check refuses it) is garbage, whatever its sequence', () => {
    const flash = newFlash();
    const owned = (r: LogRecord) => new TextDecoder().decode(r.payload).startsWith('record');
    const log = new RecordLog(flash, REGION, RECORD, owned);
    log.append(payload(1));
    new RecordLog(flash, REGION, RECORD).append(new TextEncoder().encode('forged'));
    assert.equal(text(log.latest()), 'record 1');
    log.append(payload(2));
    assert.deepEqual([log.latest()?.sequence, text(log.latest())], [2, 'record 2']);
  });

  test('a power cut at any operation of a compaction never loses the previous record', () => {
    // Compactions into an empty sector (the 9th append) and into a used one (17th, 25th).
    for (const compacting of [PER_SECTOR + 1, 2 * PER_SECTOR + 1, 3 * PER_SECTOR + 1]) {
      const before = newFlash();
      const setup = new RecordLog(before, REGION, RECORD);
      for (let n = 1; n < compacting; n++) setup.append(payload(n));
      const probe = copy(before);
      const start = probe.operations;
      new RecordLog(probe, REGION, RECORD).append(payload(compacting));
      const operations = probe.operations - start;
      assert.equal(operations, 2, 'a compaction is an erase and a write');
      let cases = 0;
      for (let k = 1; k <= operations; k++) {
        for (const tear of [false, true]) {
          for (let seed = 1; seed <= (tear ? 25 : 1); seed++) {
            const flash = copy(before);
            const log = new RecordLog(flash, REGION, RECORD);
            flash.cutPower({ after: k, tear, random: seeded(seed) });
            assert.throws(() => log.append(payload(compacting)), PowerCut);
            flash.powerOn();
            const where = `append ${compacting}, cut at ${k}${tear ? ` torn, seed ${seed}` : ''}`;
            const latest = text(log.latest());
            const completed = k === operations && !tear;
            if (completed) assert.equal(latest, `record ${compacting}`, where);
            else
              assert.ok(
                latest === `record ${compacting - 1}` ||
                  (k === operations && latest === `record ${compacting}`),
                `${where}: latest is ${latest}`,
              );
            log.append(payload(1000));
            assert.equal(text(log.latest()), 'record 1000', `${where}: the log goes on`);
            assertOutsideUntouched(flash);
            cases++;
          }
        }
      }
      assert.equal(cases, 52);
    }
  });
});
