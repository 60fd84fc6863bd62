// Hostile and broken images: every way we can think of to damage a sealed image must be refused, each
// with the SihlError code that names what is wrong (docs/FORMAT.md §Verification, §Limits).
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateBoxKeyPair } from '../../../src/core/crypto/index.ts';
import { isSihlError } from '../../../src/core/errors.ts';
import { decodeSignedDelegation } from '../../../src/core/format/delegation.ts';
import { openEnvelope, recipientIdOf, sealEnvelope } from '../../../src/core/format/envelope.ts';
import { encodeHeader, HEADER_BYTES, type Header, imageSize } from '../../../src/core/format/header.ts';
import { streamBinding } from '../../../src/core/format/manifest.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  type SignatureEntry,
  signatureBlockSize,
  signEntry,
} from '../../../src/core/format/signatures.ts';
import {
  type ByteSink,
  type ByteSource,
  bufferSource,
  imageMessage,
  type PackOptions,
  packImage,
  readImage,
  type TrustAnchors,
  unpackPayload,
  type VerifyOptions,
  verifyImage,
} from '../../../src/core/image/index.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import { firmware as fuzzFirmware } from '../../fuzz/corpus.ts';
import { device, makeDelegation, makeTrust, tempDir, testKey, writeTemp } from '../../helpers.ts';

const trust = makeTrust();
// The approvers of makeTrust(): testKey is deterministic.
const [alice, bob, carol] = [testKey('alice'), testKey('bob'), testKey('carol')];
const MODEL = 'test-board';

/** Deterministic firmware (the fuzzer's generator, with this file's own phrase). */
const firmware = (size: number, seed: number) =>
  fuzzFirmware(size, seed, 'sihl firmware, block of repeated text; ');

const FIRMWARE = firmware(3000, 0x5eed);
const dir = await tempDir();
let packed = 0;

interface Built {
  readonly bytes: Uint8Array;
  readonly contentKey: Uint8Array | null;
  readonly manifestBytes: Uint8Array;
  readonly firmware: Uint8Array;
}

/** Packs `fw` (by default FIRMWARE) with small chunks, so an encrypted payload has several of them. */
async function build(options: Partial<PackOptions> = {}, fw: Uint8Array = FIRMWARE): Promise<Built> {
  const n = packed++;
  const input = await writeTemp(dir, `firmware-${n}.bin`, fw);
  const output = join(dir, `image-${n}.sihl`);
  const result = await packImage(input, output, {
    model: MODEL,
    version: '1.2.3',
    delegation: trust.delegation,
    signers: [alice, bob],
    encrypt: true,
    quality: 9,
    chunkSize: LIMITS.chunkBytesMin,
    now: () => new Date(1_700_000_000_000),
    ...options,
  });
  const bytes = new Uint8Array(await readFile(output));
  return { bytes, contentKey: result.contentKey, manifestBytes: result.manifestBytes, firmware: fw };
}

function collector(): ByteSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    write: async (chunk) => void parts.push(chunk.slice()),
    bytes: () => new Uint8Array(Buffer.concat(parts)),
  };
}

/** The SihlError code `action` throws, 'OK' if it resolves, or a loud marker for any other throw. */
async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
    return 'OK';
  } catch (error) {
    if (isSihlError(error)) return error.code;
    return `NOT A SIHL ERROR: ${String(error)}`;
  }
}

interface CheckContext {
  readonly anchors?: TrustAnchors;
  readonly options?: VerifyOptions;
  /** What a successful unpack must produce. */
  readonly firmware?: Uint8Array;
}

/** Verifies and unpacks like a device would; 'OK' only if the firmware comes out byte for byte. */
async function check(
  bytes: Uint8Array,
  contentKey: Uint8Array | null,
  context: CheckContext = {},
): Promise<string> {
  return codeOf(async () => {
    const source = bufferSource(bytes);
    const image = await verifyImage(
      source,
      context.anchors ?? { root: trust.root },
      context.options ?? { model: MODEL },
    );
    const sink = collector();
    await unpackPayload(source, image, contentKey, sink);
    if (!Buffer.from(sink.bytes()).equals(context.firmware ?? FIRMWARE))
      throw new Error('unpacked to other bytes');
  });
}

interface Parts {
  readonly manifest: Uint8Array;
  readonly delegation: Uint8Array;
  readonly signatures: Uint8Array;
  readonly payload: Uint8Array;
}

async function split(bytes: Uint8Array): Promise<Parts> {
  const image = await readImage(bufferSource(bytes));
  const signatureStart = image.payloadOffset - image.header.signatureBlockLength;
  return {
    manifest: image.manifestBytes,
    delegation: image.delegationBytes,
    signatures: bytes.subarray(signatureStart, image.payloadOffset),
    payload: bytes.subarray(image.payloadOffset),
  };
}

/** Lays parts out again behind a header whose lengths match them. */
function assemble(parts: Parts): Uint8Array {
  const header = encodeHeader({
    manifestLength: parts.manifest.length,
    delegationLength: parts.delegation.length,
    signatureBlockLength: parts.signatures.length,
    rootChainLength: 0,
    payloadLength: parts.payload.length,
  });
  return new Uint8Array(
    Buffer.concat([header, parts.manifest, parts.delegation, parts.signatures, parts.payload]),
  );
}

async function rebuild(bytes: Uint8Array, replace: Partial<Parts>): Promise<Uint8Array> {
  return assemble({ ...(await split(bytes)), ...replace });
}

/** A signature block by `signers` over the image's manifest, in the order given (repeats allowed). */
function signatureBlock(built: Built, signers: readonly { publicKey: Uint8Array; secretKey: Uint8Array }[]) {
  const message = imageMessage(built.manifestBytes);
  return encodeSignatureBlock(
    signers.map((s): SignatureEntry => signEntry(s.secretKey, s.publicKey, message)),
  );
}

const encrypted = await build();
const signedOnly = await build({ encrypt: false });

test('the test images themselves verify and unpack', async () => {
  assert.equal(await check(encrypted.bytes, encrypted.contentKey), 'OK');
  assert.equal(await check(signedOnly.bytes, null), 'OK');
  const image = await readImage(bufferSource(encrypted.bytes));
  assert.ok(
    image.manifest.compression.compressedSize > 4 * LIMITS.chunkBytesMin,
    'the payload has several chunks',
  );
});

type Region = 'header' | 'manifest' | 'delegation' | 'signatures' | 'payload';

async function regionsOf(bytes: Uint8Array): Promise<(position: number) => Region> {
  const { header } = await readImage(bufferSource(bytes));
  const ends: [number, Region][] = [
    [HEADER_BYTES, 'header'],
    [HEADER_BYTES + header.manifestLength, 'manifest'],
    [HEADER_BYTES + header.manifestLength + header.delegationLength, 'delegation'],
    [
      HEADER_BYTES + header.manifestLength + header.delegationLength + header.signatureBlockLength,
      'signatures',
    ],
  ];
  return (position) => ends.find(([end]) => position < end)?.[1] ?? 'payload';
}

/** Codes a sweep of a region must have seen, and may give besides them when one of its bytes changes. */
const sweep = (required: string[], ...also: string[]) => ({ required, allowed: [...required, ...also] });

/** Codes each region may give when one of its bytes changes, and those a sweep must have seen. */
const REGION_CODES: Record<Region, { allowed: string[]; required: string[] }> = {
  header: sweep([
    'IMAGE_BAD_MAGIC',
    'IMAGE_UNSUPPORTED_VERSION',
    'IMAGE_BAD_HEADER',
    'IMAGE_TRUNCATED',
    'IMAGE_TRAILING_BYTES',
    'LIMIT_EXCEEDED',
  ]),
  // A manifest that still parses no longer matches what the approvers signed; one that does not is
  // refused while parsing (a changed payload size contradicts the compressed size before the header).
  manifest: sweep(['MANIFEST_MALFORMED', 'MANIFEST_INCONSISTENT', 'SIGNATURE_INVALID'], 'LIMIT_EXCEEDED'),
  delegation: sweep(
    ['DELEGATION_MALFORMED', 'SIGNATURE_BLOCK_MALFORMED', 'SIGNATURE_INVALID', 'SIGNATURE_UNKNOWN_KEY'],
    'LIMIT_EXCEEDED',
  ),
  signatures: sweep(
    ['SIGNATURE_BLOCK_MALFORMED', 'SIGNATURE_INVALID', 'SIGNATURE_UNKNOWN_KEY'],
    'LIMIT_EXCEEDED',
  ),
  payload: sweep(['PAYLOAD_DIGEST_MISMATCH']),
};

/** Every position gets 0x01 and 0x80; every third also 0xff, which changes all eight bits. */
function patternsAt(position: number): number[] {
  return position % 3 === 0 ? [0x01, 0x80, 0xff] : [0x01, 0x80];
}

for (const [label, built] of [
  ['encrypted, signed by exactly the threshold', encrypted],
  ['signed only', signedOnly],
] as const) {
  test(`any single flipped byte anywhere in a sealed image is refused (${label})`, async (t) => {
    const regionOf = await regionsOf(built.bytes);
    const seen = new Map<Region, Set<string>>();
    const accepted: string[] = [];
    let tried = 0;
    const copy = built.bytes.slice();
    for (let position = 0; position < copy.length; position++) {
      for (const pattern of patternsAt(position)) {
        copy[position] = (built.bytes[position] as number) ^ pattern;
        const code = await check(copy, built.contentKey);
        tried++;
        copy[position] = built.bytes[position] as number;
        if (code === 'OK' || code.startsWith('NOT A SIHL')) {
          accepted.push(`byte ${position} ^ 0x${pattern.toString(16)}: ${code}`);
        }
        const region = regionOf(position);
        const codes = seen.get(region) ?? new Set<string>();
        codes.add(code);
        seen.set(region, codes);
      }
    }
    assert.deepEqual(
      accepted.slice(0, 10),
      [],
      `${accepted.length} damaged images were not refused properly`,
    );
    t.diagnostic(`${built.bytes.length}-byte image, ${tried} damaged copies`);
    for (const region of Object.keys(REGION_CODES) as Region[]) {
      const { allowed, required } = REGION_CODES[region];
      const codes = [...(seen.get(region) ?? [])].sort();
      t.diagnostic(`${region}: ${codes.join(', ')}`);
      assert.deepEqual(
        codes.filter((c) => !allowed.includes(c)),
        [],
        `${region} gives only its own codes`,
      );
      assert.deepEqual(
        required.filter((c) => !codes.includes(c)),
        [],
        `${region} gives every code we expect of it`,
      );
    }
  });
}

test('every truncation is refused', async () => {
  for (const built of [encrypted, signedOnly]) {
    const wrong: string[] = [];
    for (let length = 0; length < built.bytes.length; length++) {
      const code = await check(built.bytes.subarray(0, length), built.contentKey);
      if (code !== 'IMAGE_TRUNCATED') wrong.push(`${length}: ${code}`);
    }
    assert.deepEqual(wrong, []);
  }
});

test('trailing bytes are refused', async () => {
  for (const built of [encrypted, signedOnly]) {
    for (const extra of [1, 1000]) {
      const longer = new Uint8Array(Buffer.concat([built.bytes, new Uint8Array(extra)]));
      assert.equal(await check(longer, built.contentKey), 'IMAGE_TRAILING_BYTES', `${extra} extra byte(s)`);
    }
  }
});

test('rejects an image signed by one approver', async () => {
  const one = await build({ signers: [alice] });
  assert.equal(await check(one.bytes, one.contentKey), 'SIGNATURE_THRESHOLD');
});

test('rejects an image with no signatures at all', async () => {
  const none = await build({ signers: [] });
  assert.equal(await check(none.bytes, none.contentKey), 'SIGNATURE_THRESHOLD');
  const emptied = await rebuild(encrypted.bytes, { signatures: encodeSignatureBlock([]) });
  assert.equal(await check(emptied, encrypted.contentKey), 'SIGNATURE_THRESHOLD');
});

test('the rebuilt image with its own signature block still verifies', async () => {
  // Guards the helpers below: a rejection must come from the change, not from rebuilding.
  assert.deepEqual(await rebuild(encrypted.bytes, {}), encrypted.bytes);
  const resigned = await rebuild(encrypted.bytes, { signatures: signatureBlock(encrypted, [carol, bob]) });
  assert.equal(await check(resigned, encrypted.contentKey), 'OK');
});

test('rejects one key signing twice, even when another approver also signed', async () => {
  for (const signers of [
    [alice, alice],
    [alice, alice, bob],
    [bob, alice, bob],
  ]) {
    const twice = await rebuild(encrypted.bytes, { signatures: signatureBlock(encrypted, signers) });
    assert.equal(await check(twice, encrypted.contentKey), 'SIGNATURE_DUPLICATE_KEY');
  }
});

test('rejects a signature by an unknown key alongside two valid ones', async () => {
  const mallory = testKey('mallory');
  for (const signers of [
    [alice, bob, mallory],
    [mallory, alice, bob],
  ]) {
    const extra = await rebuild(encrypted.bytes, { signatures: signatureBlock(encrypted, signers) });
    assert.equal(await check(extra, encrypted.contentKey), 'SIGNATURE_UNKNOWN_KEY');
  }
});

test('rejects a signature by a root key, which is not an approver', async () => {
  const [root] = trust.roots;
  assert.ok(root);
  const byRoot = await rebuild(encrypted.bytes, { signatures: signatureBlock(encrypted, [alice, root]) });
  assert.equal(await check(byRoot, encrypted.contentKey), 'SIGNATURE_UNKNOWN_KEY');
});

test('rejects an image whose delegation is signed by a root key the device does not trust', async () => {
  const foreign = makeDelegation([testKey('root-2')], trust.approvers);
  const image = await build({ delegation: foreign });
  assert.equal(await check(image.bytes, image.contentKey), 'SIGNATURE_UNKNOWN_KEY');
  // The delegation is checked first: a missing image signature does not change the answer.
  const underSigned = await build({ delegation: foreign, signers: [alice] });
  assert.equal(await check(underSigned.bytes, underSigned.contentKey), 'SIGNATURE_UNKNOWN_KEY');
  // The device that pins root-2 accepts it, so the refusal above is about trust, not the image.
  const otherRoot = { root: { keys: [testKey('root-2').publicKey], threshold: 1 } };
  assert.equal(await check(image.bytes, image.contentKey, { anchors: otherRoot }), 'OK');
});

test('rejects a delegation swapped for one naming other approvers', async () => {
  // Root-signed and valid, but it does not name alice or bob, who signed the manifest.
  const others = makeDelegation(trust.roots, [carol, testKey('dave'), testKey('erin')]);
  const swapped = await rebuild(encrypted.bytes, { delegation: others });
  assert.equal(await check(swapped, encrypted.contentKey), 'SIGNATURE_UNKNOWN_KEY');
});

test('rejects an image carrying an older delegation version than the device accepted', async () => {
  const anchors = (min: number) => ({ anchors: { root: trust.root, minDelegationVersion: min } });
  assert.equal(await check(encrypted.bytes, encrypted.contentKey, anchors(2)), 'DELEGATION_ROLLBACK');
  assert.equal(await check(encrypted.bytes, encrypted.contentKey, anchors(1)), 'OK');
  const newer = await build({ delegation: makeDelegation(trust.roots, trust.approvers, { version: 3 }) });
  assert.equal(await check(newer.bytes, newer.contentKey, anchors(2)), 'OK');
  assert.equal(await check(newer.bytes, newer.contentKey, anchors(3)), 'OK');
  assert.equal(await check(newer.bytes, newer.contentKey, anchors(4)), 'DELEGATION_ROLLBACK');
});

test('key envelopes open only on their device and only for their image', async () => {
  const other = await build();
  const deviceB = generateBoxKeyPair();
  const bindingOf = async (built: Built) =>
    streamBinding((await verifyImage(bufferSource(built.bytes), { root: trust.root })).manifestBytes);
  const binding = await bindingOf(encrypted);
  const otherBinding = await bindingOf(other);
  assert.ok(encrypted.contentKey);
  const envelope = sealEnvelope(
    encrypted.contentKey,
    streamBinding(encrypted.manifestBytes),
    device.publicKey,
  );
  const open = (bytes: Uint8Array, pair = device, forBinding = binding) =>
    codeOf(async () => openEnvelope(bytes, pair, forBinding));

  assert.deepEqual(openEnvelope(envelope, device, binding), encrypted.contentKey);
  assert.equal(await open(envelope, deviceB), 'ENVELOPE_WRONG_RECIPIENT');

  // Claiming B as recipient gets past the clear check; the sealed box still opens only for A.
  const readdressed = envelope.slice();
  readdressed.set(recipientIdOf(deviceB.publicKey), 8);
  assert.equal(await open(readdressed, deviceB), 'ENVELOPE_OPEN_FAILED');

  assert.equal(await open(envelope, device, otherBinding), 'ENVELOPE_WRONG_IMAGE');
  // Rewriting the clear binding is caught by the copy inside the sealed box.
  const rebound = envelope.slice();
  rebound.set(otherBinding, 40);
  assert.equal(await open(rebound, device, otherBinding), 'ENVELOPE_WRONG_IMAGE');
});

test('rejects an image unpacked with the content key of another image', async () => {
  const other = await build();
  assert.equal(await check(encrypted.bytes, other.contentKey), 'STREAM_DECRYPT_FAILED');
});

test('rejects the payload of one image behind the manifest of another', async () => {
  // Same firmware and options give the same lengths; only the content keys differ.
  const other = await build();
  const [mine, theirs] = [await split(encrypted.bytes), await split(other.bytes)];
  assert.equal(mine.payload.length, theirs.payload.length);
  const spliced = new Uint8Array(
    Buffer.concat([encrypted.bytes.subarray(0, -mine.payload.length), theirs.payload]),
  );
  assert.equal(spliced.length, encrypted.bytes.length);
  assert.equal(await check(spliced, encrypted.contentKey), 'PAYLOAD_DIGEST_MISMATCH');
  assert.equal(await check(spliced, other.contentKey), 'PAYLOAD_DIGEST_MISMATCH');

  // Signed-only, uncompressed, two firmwares of one size: the payload is the firmware itself.
  const plainA = await build({ encrypt: false, compression: 'none' });
  const otherFirmware = firmware(FIRMWARE.length, 0xbad);
  const plainB = await build({ encrypt: false, compression: 'none' }, otherFirmware);
  const plainSpliced = await rebuild(plainA.bytes, { payload: (await split(plainB.bytes)).payload });
  assert.equal(plainSpliced.length, plainA.bytes.length);
  assert.equal(await check(plainSpliced, null), 'PAYLOAD_DIGEST_MISMATCH');
});

/** A source of `size` bytes that holds `prefix` and then zeros, and remembers its largest read. */
function recordingSource(prefix: Uint8Array, size: number): ByteSource & { readonly largestRead: number } {
  let largest = 0;
  return {
    size,
    get largestRead() {
      return largest;
    },
    read: async (offset, length) => {
      largest = Math.max(largest, length);
      if (offset + length > size) throw new Error('read past the end of the source');
      if (length > 1024 * 1024) throw new Error(`refusing to serve a ${length}-byte read in a test`);
      const out = new Uint8Array(length);
      out.set(prefix.subarray(offset, offset + length));
      return out;
    },
  };
}

test('sizes above the limits are rejected before anything of that size is read', async () => {
  const base: Header = {
    manifestLength: 100,
    delegationLength: 200,
    signatureBlockLength: 4,
    rootChainLength: 0,
    payloadLength: 300,
  };
  const oversized: [string, Header][] = [
    ['manifest', { ...base, manifestLength: LIMITS.manifestBytes + 1 }],
    ['manifest (u32 max)', { ...base, manifestLength: 0xffffffff }],
    ['delegation', { ...base, delegationLength: LIMITS.delegationBytes + 1 }],
    ['signature block', { ...base, signatureBlockLength: LIMITS.signatureBlockBytes + 1 }],
    ['root chain', { ...base, rootChainLength: LIMITS.rootChainBytes + 1 }],
    ['payload', { ...base, payloadLength: 2 ** 52 }],
  ];
  for (const [what, header] of oversized) {
    const bytes = encodeHeader(header);
    // Followed by nothing, and from a source that claims to hold everything the header describes.
    for (const size of [HEADER_BYTES, imageSize(header)]) {
      const source = recordingSource(bytes, size);
      const code = await codeOf(() => verifyImage(source, { root: trust.root }));
      assert.equal(code, 'LIMIT_EXCEEDED', `${what} length, source of ${size} bytes`);
      assert.ok(source.largestRead <= HEADER_BYTES, `${what}: largest read was ${source.largestRead} bytes`);
    }
  }
});

test('a payload length beyond 2^53 is refused as over the limit, before any other read', async () => {
  const bytes = encodeHeader({
    manifestLength: 100,
    delegationLength: 200,
    signatureBlockLength: 4,
    rootChainLength: 0,
    payloadLength: 0,
  });
  bytes.fill(0xff, 24, 32);
  const source = recordingSource(bytes, Number.MAX_SAFE_INTEGER);
  assert.equal(await codeOf(() => verifyImage(source, { root: trust.root })), 'LIMIT_EXCEEDED');
  assert.equal(source.largestRead, HEADER_BYTES);
});

test('a signature block counting more than the limit is refused before its entries are read', async () => {
  const over = LIMITS.signatures + 1;
  const code = (bytes: Uint8Array) => codeOf(async () => decodeSignatureBlock(bytes));
  assert.equal(await code(Uint8Array.of(over, 0, 0, 0)), 'LIMIT_EXCEEDED');
  assert.equal(await code(Uint8Array.of(0xff, 0, 0, 0)), 'LIMIT_EXCEEDED');
  const full = new Uint8Array(signatureBlockSize(over));
  full[0] = over;
  assert.equal(await code(full), 'LIMIT_EXCEEDED');
  // At the limit, a block of the right length decodes.
  const atLimit = new Uint8Array(signatureBlockSize(LIMITS.signatures));
  atLimit[0] = LIMITS.signatures;
  assert.equal(decodeSignatureBlock(atLimit).length, LIMITS.signatures);
  // And inside an image, where it is found after the manifest and delegation parse.
  const inImage = await rebuild(encrypted.bytes, { signatures: full });
  assert.ok(full.length <= LIMITS.signatureBlockBytes);
  assert.equal(await check(inImage, encrypted.contentKey), 'LIMIT_EXCEEDED');
});

/** Delegation fixed fields: version 1, threshold 2, `count` keys, reserved zero. */
function delegationFields(count: number): Uint8Array {
  return Uint8Array.of(1, 0, 0, 0, 2, count, 0, 0);
}

test('a delegation naming more keys than the limit is refused', async () => {
  const over = LIMITS.delegatedKeys + 1;
  const withKeys = new Uint8Array(
    Buffer.concat([delegationFields(over), new Uint8Array(over * 32), encodeSignatureBlock([])]),
  );
  assert.equal(await codeOf(async () => decodeSignedDelegation(withKeys)), 'LIMIT_EXCEEDED');
  const inImage = await rebuild(encrypted.bytes, { delegation: withKeys });
  assert.equal(await check(inImage, encrypted.contentKey), 'LIMIT_EXCEEDED');
  // At the limit, a real delegation of sixteen approvers decodes.
  const sixteen = Array.from({ length: LIMITS.delegatedKeys }, (_, i) => testKey(`approver-${i}`));
  assert.equal(decodeSignedDelegation(makeDelegation(trust.roots, sixteen)).delegation.keys.length, 16);
});

test('a delegation counting more keys than the limit is refused as over the limit even without its key bytes', async () => {
  const over = LIMITS.delegatedKeys + 1;
  assert.equal(await codeOf(async () => decodeSignedDelegation(delegationFields(over))), 'LIMIT_EXCEEDED');
  assert.equal(await codeOf(async () => decodeSignedDelegation(delegationFields(0xff))), 'LIMIT_EXCEEDED');
});

test('rejects an image for another model', async () => {
  assert.equal(
    await check(encrypted.bytes, encrypted.contentKey, { options: { model: 'other-board' } }),
    'MODEL_MISMATCH',
  );
});

test('rejects an image whose security version is below the device minimum', async () => {
  const v3 = await build({ securityVersion: 3 });
  const at = (min: number) =>
    check(v3.bytes, v3.contentKey, { options: { model: MODEL, minSecurityVersion: min } });
  assert.equal(await at(4), 'SECURITY_VERSION_ROLLBACK');
  assert.equal(await at(3), 'OK');
  assert.equal(
    await check(encrypted.bytes, encrypted.contentKey, { options: { minSecurityVersion: 1 } }),
    'SECURITY_VERSION_ROLLBACK',
  );
});

test('rejects unpacking an encrypted image without a content key', async () => {
  assert.equal(await check(encrypted.bytes, null), 'ENVELOPE_REQUIRED');
});
