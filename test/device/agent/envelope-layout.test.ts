// The agent finds its envelope with its own copy of the table layout (a device may not import vendor
// code); this ties that copy to the layout publishing writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envelopeSlot } from '../../../src/device/agent/envelope.ts';
import { ENVELOPE_FOLDER, envelopeLocation } from '../../../src/publisher/envelopes.ts';

test('the agent reads each device index where publishing wrote it', () => {
  for (const idx of [0, 1, 65_535, 65_536, 65_537, 999_999, 1_000_000, 2 ** 31]) {
    const written = envelopeLocation(idx);
    const read = envelopeSlot(`releases/m-1/${ENVELOPE_FOLDER}/`, idx);
    assert.equal(read.path, `releases/m-1/${written.file}`, `part file of device ${idx}`);
    assert.equal(read.offset, written.offset, `offset of device ${idx}`);
  }
});
