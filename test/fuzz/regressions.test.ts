// Inputs the fuzz targets found, kept as tests. Each names the target and the exact input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import { decodeBootState, encodeBootState, idle } from '../../src/device/bootloader/boot-state.ts';
import { parseMetadata } from '../../src/publisher/tuf/index.ts';

test('a boot-state record whose version text is not UTF-8 is refused with a SihlError, not a TypeError', () => {
  // Found by the boot-state target: a record with a valid checksum around a payload whose version text
  // holds the byte 0xff. decodeBootState threw the TextDecoder's TypeError.
  const payload = encodeBootState(idle({ size: 1, digest: new Uint8Array(32), version: 'a' }));
  const at = 2 + 4 + 32 + 1; // the running version's one byte: after phase, attempts, size, digest, length
  assert.equal(payload[at], 'a'.charCodeAt(0));
  payload[at] = 0xff;
  assert.throws(
    () => decodeBootState(payload),
    (e) => isSihlError(e) && /not UTF-8/.test(e.message),
  );
});

test('TUF metadata holding a number that is not whole is refused when parsed, not by a TypeError later', () => {
  // Found by the tuf-metadata target: the timestamp's snapshot length replaced by 1.5. It parsed, and
  // checking its signatures threw "TypeError: cannot encode 1.5" from the canonical JSON encoder.
  const json = JSON.stringify({
    signed: {
      _type: 'timestamp',
      spec_version: '1.0.31',
      version: 3,
      expires: '2029-12-02T00:00:00Z',
      meta: { 'snapshot.json': { version: 3, length: 1.5, hashes: { sha256: '00'.repeat(32) } } },
    },
    signatures: [],
  });
  assert.throws(
    () => parseMetadata('timestamp', new TextEncoder().encode(json)),
    (e) => isSihlError(e, 'TUF_METADATA_MALFORMED') && /cannot encode 1\.5/.test(e.message),
  );
});
