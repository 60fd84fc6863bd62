// Edges of the format decoders that mutation testing (docs/ASSURANCE.md) showed no other test pinned:
// each limit accepted at its value and refused one above, each refusal with its code and a message that
// names the field, the writers' range checks, and where the stream binding stops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSihlError } from '../../../src/core/errors.ts';
import { ByteReader, ByteWriter, fromHex, fromUtf8, toHex } from '../../../src/core/format/bytes.ts';
import {
  decodeHeader,
  encodeHeader,
  HEADER_BYTES,
  type Header,
  imageSize,
} from '../../../src/core/format/header.ts';
import {
  checkModel,
  checkVersion,
  decodeManifest,
  encodeManifest,
  expectedPayloadSize,
  type Manifest,
  streamBinding,
} from '../../../src/core/format/manifest.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import { refuses } from '../../support/refuses.ts';

test('the writer refuses values outside each width and writes little-endian', () => {
  const w = new ByteWriter();
  for (const bad of [-1, 0x10000, 1.5])
    assert.throws(() => w.u16(bad), new RangeError(`not a u16 value: ${bad}`));
  for (const bad of [-1, 0x100000000, 1.5])
    assert.throws(() => w.u32(bad), new RangeError(`not a u32 value: ${bad}`));
  for (const bad of [-1, 2 ** 53, 1.5])
    assert.throws(() => w.u64(bad), new RangeError(`not a u64 value: ${bad}`));
  const bytes = w
    .u16(0xffff)
    .u16(0)
    .u32(0xffffffff)
    .u32(0x01020304)
    .u64(2 ** 53 - 1)
    .u64(0x0102)
    .finish();
  assert.equal(toHex(bytes), 'ffff0000' + 'ffffffff' + '04030201' + 'ffffffffffff1f00' + '0201000000000000');
});

test('the reader counts, peeks without moving, and names itself and the offset in every refusal', () => {
  const r = new ByteReader(Uint8Array.of(1, 2, 3, 4, 5), 'MANIFEST_MALFORMED', 'thing');
  assert.equal(r.remaining, 5);
  assert.equal(r.u8(), 1);
  assert.equal(r.offset, 1);
  assert.equal(r.peekU8(3), 5);
  assert.equal(r.peekU8(0), 2);
  assert.equal(r.offset, 1, 'peeking does not move');
  refuses(() => r.peekU8(4), 'MANIFEST_MALFORMED', /^thing: needs 5 more bytes, has 4 \(at byte 1\)$/);
  refuses(() => r.bytes(5), 'MANIFEST_MALFORMED', /^thing: needs 5 more bytes, has 4 \(at byte 1\)$/);
  assert.equal(r.offset, 1, 'a refused read does not move');
  refuses(() => r.end(), 'MANIFEST_MALFORMED', /^thing: 4 unexpected trailing bytes \(at byte 1\)$/);
  assert.deepEqual([...r.bytes(4)], [2, 3, 4, 5]);
  assert.equal(r.remaining, 0);
  r.end();
  const big = new ByteReader(
    new ByteWriter()
      .u64(2 ** 53 - 1)
      .u32(0)
      .u32(0x200000)
      .finish(),
    'IMAGE_BAD_HEADER',
    'big',
  );
  assert.equal(big.u64(), 2 ** 53 - 1);
  refuses(
    () => big.u64(),
    'LIMIT_EXCEEDED',
    /^big: 64-bit value 9007199254740992 is above 2\^53 - 1 \(at byte 8\)$/,
  );
});

test('hex and UTF-8 helpers are strict', () => {
  assert.deepEqual([...fromHex('00Ff')], [0, 255]);
  assert.deepEqual([...fromHex('')], []);
  refuses(() => fromHex('abc'), 'USAGE', /^not hexadecimal: abc…$/);
  refuses(() => fromHex('0g'), 'USAGE', /not hexadecimal/);
  refuses(() => fromHex(`x${'0'.repeat(40)}`), 'USAGE', /^not hexadecimal: x0{15}…$/);
  assert.equal(
    fromUtf8.decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)),
    '\ufeffa',
    'a byte-order mark is kept',
  );
  assert.throws(() => fromUtf8.decode(Uint8Array.of(0xff)), TypeError);
});

const header: Header = {
  manifestLength: LIMITS.manifestBytes,
  delegationLength: LIMITS.delegationBytes,
  signatureBlockLength: LIMITS.signatureBlockBytes,
  rootChainLength: LIMITS.rootChainBytes,
  payloadLength: LIMITS.payloadBytes,
};

test('a header with every length at its limit decodes; one above any limit is refused naming the field', () => {
  const bytes = encodeHeader(header);
  assert.equal(bytes.length, HEADER_BYTES);
  assert.deepEqual(decodeHeader(bytes), header);
  assert.equal(
    imageSize(header),
    HEADER_BYTES +
      LIMITS.manifestBytes +
      LIMITS.delegationBytes +
      LIMITS.signatureBlockBytes +
      LIMITS.rootChainBytes +
      LIMITS.payloadBytes,
  );
  const fields: [keyof Header, string, number][] = [
    ['manifestLength', 'manifest length', LIMITS.manifestBytes],
    ['delegationLength', 'delegation length', LIMITS.delegationBytes],
    ['signatureBlockLength', 'signature block length', LIMITS.signatureBlockBytes],
    ['rootChainLength', 'root chain length', LIMITS.rootChainBytes],
    ['payloadLength', 'payload length', LIMITS.payloadBytes],
  ];
  for (const [field, name, limit] of fields) {
    refuses(
      () => decodeHeader(encodeHeader({ ...header, [field]: limit + 1 })),
      'LIMIT_EXCEEDED',
      new RegExp(`^header: ${name} ${limit + 1} is above the limit ${limit}$`),
    );
  }
});

test('a short, foreign, newer or oddly sized header is refused with its own code and message', () => {
  const bytes = encodeHeader(header);
  refuses(
    () => decodeHeader(bytes.subarray(0, HEADER_BYTES - 1)),
    'IMAGE_TRUNCATED',
    /shorter than its 32-byte header/,
  );
  const magic = bytes.slice();
  magic[3] = 0;
  refuses(() => decodeHeader(magic), 'IMAGE_BAD_MAGIC', /^not a sihl image \(bad magic\)$/);
  const version = bytes.slice();
  version[4] = 1; // version 1 stored the payload without its chunk chain: not read any more
  refuses(
    () => decodeHeader(version),
    'IMAGE_UNSUPPORTED_VERSION',
    /^image format version 1; this sihl reads version 2$/,
  );
  const length = bytes.slice();
  length[6] = 33;
  refuses(() => decodeHeader(length), 'IMAGE_BAD_HEADER', /^header: header length must be 32 \(at byte 8\)$/);
  // Only the first 32 bytes are the header: what follows is not read here.
  assert.deepEqual(decodeHeader(new Uint8Array([...bytes, 1, 2, 3])), header);
});

const manifest: Manifest = {
  model: 'm',
  version: '1',
  securityVersion: 0xffffffff,
  releaseId: new Uint8Array(16).fill(7),
  created: 1_700_000_000,
  plaintextSize: 1000,
  plaintextDigest: new Uint8Array(32).fill(1),
  compression: { algorithm: 'brotli', windowLog: LIMITS.windowLogMin, filter: 'thumb', compressedSize: 700 },
  encryption: { algorithm: 'secretstream', header: new Uint8Array(24).fill(9) },
  chunkSize: LIMITS.chunkBytesMin,
  payloadSize: expectedPayloadSize(700, LIMITS.chunkBytesMin, true),
  payloadDigest: new Uint8Array(32).fill(2),
};

/** Records written as they are, without the encoder's checks. */
function rawManifest(m: Manifest, change: (records: [number, Uint8Array][]) => void = () => {}): Uint8Array {
  const good = encodeManifest(m);
  const records: [number, Uint8Array][] = [];
  const r = new ByteReader(good, 'MANIFEST_MALFORMED', 'test');
  while (r.remaining > 0) {
    const tag = r.u8();
    records.push([tag, r.bytes(r.u16()).slice()]);
  }
  change(records);
  const w = new ByteWriter();
  for (const [tag, value] of records) w.u8(tag).u16(value.length).bytes(value);
  return w.finish();
}

const u32 = (v: number) => new ByteWriter().u32(v).finish();
const u64 = (v: number) => new ByteWriter().u64(v).finish();
const compression = (algorithm: number, windowLog: number, filter: number, size: number) =>
  new ByteWriter().u8(algorithm).u8(windowLog).u8(filter).u64(size).finish();

test('model and version strings: 64 bytes of the allowed characters, from the first to the last', () => {
  assert.equal(checkModel('a'.repeat(64)), 'a'.repeat(64));
  assert.equal(checkVersion('1'.repeat(64)), '1'.repeat(64));
  refuses(() => checkModel('a'.repeat(65)), 'USAGE', /^model "a{65}" must be 1 to 64 of/);
  refuses(() => checkVersion('1'.repeat(65)), 'USAGE', /^version "1{65}" must be 1 to 64 of/);
  for (const bad of ['', '-a', 'a b', 'a/', 'é']) refuses(() => checkModel(bad), 'USAGE', /model/);
  for (const bad of ['', '.1', '1 2', '1_', '1/']) refuses(() => checkVersion(bad), 'USAGE', /version/);
  // Multi-byte characters count in bytes: 32 two-byte characters are 64 bytes (and not allowed anyway).
  const decoded = decodeManifest(
    encodeManifest({ ...manifest, model: `A.b_c-${'9'.repeat(58)}`, version: '1.0+b-2' }),
  );
  assert.equal(decoded.model.length, 64);
  assert.equal(decoded.version, '1.0+b-2');
});

test('a manifest at every limit decodes to what was encoded', () => {
  const m: Manifest = {
    ...manifest,
    plaintextSize: LIMITS.plaintextBytes,
    compression: {
      ...manifest.compression,
      windowLog: LIMITS.windowLogMax,
      compressedSize: LIMITS.compressedBytes,
    },
    chunkSize: LIMITS.chunkBytesMax,
    payloadSize: expectedPayloadSize(LIMITS.compressedBytes, LIMITS.chunkBytesMax, true),
  };
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  const plain: Manifest = {
    ...manifest,
    compression: { algorithm: 'none', windowLog: 0, filter: 'none', compressedSize: 1000 },
    encryption: { algorithm: 'none' },
    payloadSize: expectedPayloadSize(1000, manifest.chunkSize, false),
  };
  assert.deepEqual(decodeManifest(encodeManifest(plain)), plain);
  assert.deepEqual(
    decodeManifest(encodeManifest({ ...manifest, compression: { ...manifest.compression, filter: 'arm' } }))
      .compression.filter,
    'arm',
  );
});

test('the payload size follows from compressed size, chunk size and encryption, with a link between chunks', () => {
  assert.equal(expectedPayloadSize(700, 256, false), 700 + 2 * 32);
  assert.equal(expectedPayloadSize(256, 256, false), 256, 'one chunk has no link');
  assert.equal(expectedPayloadSize(512, 256, true), 512 + 2 * 17 + 32);
  assert.equal(expectedPayloadSize(513, 256, true), 513 + 3 * 17 + 2 * 32);
  assert.equal(expectedPayloadSize(0, 256, true), 17, 'an empty stream still has its FINAL chunk');
});

test('every manifest refusal has its code and names the field', () => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    [
      'over the size limit',
      new Uint8Array(LIMITS.manifestBytes + 1),
      'LIMIT_EXCEEDED',
      /^manifest is 4097 bytes; the limit is 4096$/,
    ],
    [
      'a record out of place',
      rawManifest(manifest, (r) => r.reverse()),
      'MANIFEST_MALFORMED',
      /^manifest: expected record 1 \(model\), found 12/,
    ],
    [
      'a fixed-size record of the wrong size',
      rawManifest(manifest, (r) => {
        (r[2] as [number, Uint8Array])[1] = new Uint8Array(5);
      }),
      'MANIFEST_MALFORMED',
      /security version must be 4 bytes, not 5/,
    ],
    [
      'a model over 64 bytes',
      rawManifest(manifest, (r) => {
        (r[0] as [number, Uint8Array])[1] = new Uint8Array(65).fill(0x61);
      }),
      'MANIFEST_MALFORMED',
      /^manifest model: model longer than 64 bytes/,
    ],
    [
      'a version that is not UTF-8',
      rawManifest(manifest, (r) => {
        (r[1] as [number, Uint8Array])[1] = Uint8Array.of(0xff);
      }),
      'MANIFEST_MALFORMED',
      /^manifest version: version is not UTF-8/,
    ],
    [
      'a model with a space',
      rawManifest(manifest, (r) => {
        (r[0] as [number, Uint8Array])[1] = new TextEncoder().encode('a b');
      }),
      'MANIFEST_MALFORMED',
      /model "a b" has characters outside the allowed set/,
    ],
    [
      'an unknown compression',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(3, 10, 0, 700);
      }),
      'MANIFEST_MALFORMED',
      /unknown compression algorithm/,
    ],
    [
      'an unknown filter',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(1, 10, 3, 700);
      }),
      'MANIFEST_MALFORMED',
      /unknown branch filter/,
    ],
    [
      'an unknown encryption',
      rawManifest(manifest, (r) => {
        (r[8] as [number, Uint8Array])[1][0] = 2;
      }),
      'MANIFEST_MALFORMED',
      /unknown encryption algorithm/,
    ],
    ['trailing bytes', new Uint8Array([...encodeManifest(manifest), 0]), 'MANIFEST_MALFORMED', /trailing/],
    [
      'plaintext above the limit',
      rawManifest(manifest, (r) => {
        (r[5] as [number, Uint8Array])[1] = u64(LIMITS.plaintextBytes + 1);
      }),
      'LIMIT_EXCEEDED',
      /^manifest: plaintext size 4294967297 is above the limit 4294967296$/,
    ],
    [
      'a chunk above the limit',
      rawManifest(manifest, (r) => {
        (r[9] as [number, Uint8Array])[1] = u32(LIMITS.chunkBytesMax + 1);
      }),
      'LIMIT_EXCEEDED',
      /^manifest: chunk size 1048577 is above the limit 1048576$/,
    ],
    [
      'an empty plaintext',
      rawManifest(manifest, (r) => {
        (r[5] as [number, Uint8Array])[1] = u64(0);
      }),
      'MANIFEST_INCONSISTENT',
      /^manifest: plaintext size is zero$/,
    ],
    [
      'a chunk below the minimum',
      rawManifest(manifest, (r) => {
        (r[9] as [number, Uint8Array])[1] = u32(LIMITS.chunkBytesMin - 1);
      }),
      'MANIFEST_INCONSISTENT',
      /^manifest: chunk size 255 is below 256$/,
    ],
    [
      'uncompressed with a window',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(0, 10, 0, 1000);
      }),
      'MANIFEST_INCONSISTENT',
      /uncompressed payload with a window or filter/,
    ],
    [
      'uncompressed with a filter',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(0, 0, 1, 1000);
      }),
      'MANIFEST_INCONSISTENT',
      /uncompressed payload with a window or filter/,
    ],
    [
      'uncompressed of another size',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(0, 0, 0, 999);
      }),
      'MANIFEST_INCONSISTENT',
      /uncompressed size differs from plaintext size/,
    ],
    [
      'a window below the range',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(1, 9, 0, 700);
      }),
      'LIMIT_EXCEEDED',
      /^manifest: window log 9 outside 10\.\.16$/,
    ],
    [
      'a window above the range',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(1, 17, 0, 700);
      }),
      'LIMIT_EXCEEDED',
      /window log 17 outside/,
    ],
    [
      'nothing compressed',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(1, 10, 0, 0);
      }),
      'MANIFEST_INCONSISTENT',
      /^manifest: compressed size is zero$/,
    ],
    [
      'compressed above the limit',
      rawManifest(manifest, (r) => {
        (r[7] as [number, Uint8Array])[1] = compression(1, 10, 0, LIMITS.compressedBytes + 1);
      }),
      'LIMIT_EXCEEDED',
      /^manifest: compressed size \d+ is above the limit/,
    ],
    [
      'a stream header without encryption',
      rawManifest(manifest, (r) => {
        (r[8] as [number, Uint8Array])[1][0] = 0;
      }),
      'MANIFEST_INCONSISTENT',
      /^manifest: stream header set without encryption$/,
    ],
    [
      'a payload size off by one',
      rawManifest(manifest, (r) => {
        (r[10] as [number, Uint8Array])[1] = u64(manifest.payloadSize + 1);
      }),
      'MANIFEST_INCONSISTENT',
      /^manifest: payload size does not match compressed size, chunk size and encryption$/,
    ],
  ];
  for (const [what, bytes, code, message] of cases) {
    assert.throws(
      () => decodeManifest(bytes),
      (error) => {
        assert.ok(isSihlError(error), `${what}: ${String(error)}`);
        assert.equal(error.code, code, `${what}: ${error.message}`);
        assert.match(error.message, message, what);
        return true;
      },
    );
  }
});

test('the stream binding covers the manifest up to, not including, its payload digest record', () => {
  const bytes = encodeManifest(manifest);
  const other = encodeManifest({ ...manifest, payloadDigest: new Uint8Array(32).fill(3) });
  assert.deepEqual(streamBinding(bytes), streamBinding(other));
  const earlier = encodeManifest({ ...manifest, chunkSize: LIMITS.chunkBytesMin, created: 1 });
  assert.notDeepEqual(streamBinding(bytes), streamBinding(earlier));
  // The byte just before the digest record (the payload size's last byte) is covered.
  const lastCovered = bytes.slice();
  const at = bytes.length - 35 - 1;
  lastCovered[at] = (lastCovered[at] as number) ^ 1;
  assert.notDeepEqual(streamBinding(bytes), streamBinding(lastCovered));
  // The digest record's tag is not.
  const tag = bytes.slice();
  tag[bytes.length - 35] = 0;
  assert.deepEqual(streamBinding(bytes), streamBinding(tag));
});
