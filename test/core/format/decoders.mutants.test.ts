// More edges that mutation testing (docs/ASSURANCE.md) showed no other test pinned: decoded values own
// their bytes (a reused read buffer cannot change them afterwards), the domain-separation contexts are
// the ones docs/FORMAT.md names, a part exactly at its size or count limit is parsed rather than refused
// as over it, encoders refuse what decoders would, and refusals name the record or statement at fault.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../../src/core/crypto/hash.ts';
import { ByteReader, ByteWriter } from '../../../src/core/format/bytes.ts';
import {
  decodeSignedDelegation,
  delegationMessage,
  encodeDelegationBody,
} from '../../../src/core/format/delegation.ts';
import { decodeEnvelope } from '../../../src/core/format/envelope.ts';
import { decodeManifest, encodeManifest, streamBinding } from '../../../src/core/format/manifest.ts';
import {
  decodeRootChain,
  encodeRootBody,
  encodeRootChain,
  makeRootStatement,
  rootMessage,
  verifyRootChain,
} from '../../../src/core/format/root-chain.ts';
import { decodeSignatureBlock, signEntry } from '../../../src/core/format/signatures.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import {
  type CorpusImage,
  corpusImages,
  deviceBox,
  envelopeOf,
  pinnedRoot,
  rootChain,
} from '../../fuzz/corpus.ts';
import { testKey } from '../../support/fixtures.ts';
import { refuses } from '../../support/refuses.ts';

const [encrypted] = (await corpusImages()) as [CorpusImage];
const [, manifestBytes, delegationBytes, signatureBytes] = encrypted.parts as Uint8Array[];
const text = (s: string) => new TextEncoder().encode(s);
const padded = (bytes: Uint8Array, length: number) => {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
};

test('decoded values own their bytes: overwriting the input afterwards changes nothing', () => {
  const snapshot = (value: unknown) =>
    JSON.stringify(value, (_, v) => (v instanceof Uint8Array ? [...v] : v));
  const decoders: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    ['manifest', manifestBytes as Uint8Array, decodeManifest],
    // The delegation's body stays a view of its input (read.ts hands it a copy); what it decodes to does not.
    [
      'delegation',
      delegationBytes as Uint8Array,
      (b) => {
        const { delegation, signatures } = decodeSignedDelegation(b);
        return { delegation, signatures };
      },
    ],
    ['signature block', signatureBytes as Uint8Array, decodeSignatureBlock],
    ['envelope', envelopeOf(encrypted), decodeEnvelope],
    ['root chain', rootChain, decodeRootChain],
  ];
  for (const [what, original, decode] of decoders) {
    const input = new Uint8Array(original);
    const decoded = decode(input);
    const before = snapshot(decoded);
    input.fill(0x5a);
    assert.equal(snapshot(decoded), before, `${what} still refers to its input`);
  }
  assert.ok(deviceBox);
});

test('the contexts of what is signed and bound are the ones FORMAT.md names', () => {
  const body = Uint8Array.of(1, 2, 3);
  assert.ok(Buffer.from(delegationMessage(body)).equals(Buffer.concat([text('sihl/v1/delegation\0'), body])));
  assert.ok(Buffer.from(rootMessage(body)).equals(Buffer.concat([text('sihl/v1/root\0'), body])));
  const m = manifestBytes as Uint8Array;
  assert.deepEqual(streamBinding(m), sha256(text('sihl/v1/stream\0'), m.subarray(0, m.length - 35)));
});

test('a part exactly at its size or count limit is parsed, and refused for what is wrong with it', () => {
  refuses(
    () => decodeManifest(padded(manifestBytes as Uint8Array, LIMITS.manifestBytes)),
    'MANIFEST_MALFORMED',
    /trailing/,
  );
  refuses(
    () => decodeSignedDelegation(padded(delegationBytes as Uint8Array, LIMITS.delegationBytes)),
    'SIGNATURE_BLOCK_MALFORMED',
    /does not fit/,
  );
  refuses(
    () => decodeRootChain(padded(rootChain, LIMITS.rootChainBytes)),
    'ROOT_CHAIN_MALFORMED',
    /trailing/,
  );
  refuses(
    () => decodeRootChain(Uint8Array.of(32, 0, 0, 0)),
    'ROOT_CHAIN_MALFORMED',
    /^root chain: needs 6 more bytes, has 0/,
  );
  const statement = (keys: number, extra: Uint8Array = new Uint8Array(0)) =>
    new Uint8Array(
      Buffer.concat([
        Uint8Array.of(1, 0, 0, 0),
        new ByteWriter().u32(2).u8(1).u8(keys).u16(0).finish(),
        extra,
      ]),
    );
  refuses(
    () => decodeRootChain(statement(16)),
    'ROOT_CHAIN_MALFORMED',
    /^root chain: needs 520 more bytes, has 8/,
  );
  const oneKey = testKey('edge key').publicKey;
  refuses(
    () => decodeRootChain(statement(1, new Uint8Array([...oneKey, 16, 0, 0, 0]))),
    'ROOT_CHAIN_MALFORMED',
    /^root chain: needs 1540 more bytes, has 4/,
  );
  // The body alone, without even an empty signature block: the key list is whole, the block is missing.
  const body = encodeDelegationBody({ version: 1, threshold: 1, keys: [oneKey] });
  refuses(
    () => decodeSignedDelegation(body),
    'SIGNATURE_BLOCK_MALFORMED',
    /^signature block: needs 1 more bytes/,
  );
});

test('encoders refuse what their decoders would refuse', () => {
  const m = decodeManifest(manifestBytes as Uint8Array);
  refuses(
    () => encodeManifest({ ...m, chunkSize: LIMITS.chunkBytesMin - 1 }),
    'MANIFEST_INCONSISTENT',
    /chunk size 255/,
  );
  refuses(
    () => encodeDelegationBody({ version: 0, threshold: 1, keys: [testKey('edge key').publicKey] }),
    'DELEGATION_MALFORMED',
    /^delegation: version 0/,
  );
  refuses(
    () => encodeRootBody({ version: 2, threshold: 0, keys: [testKey('edge key').publicKey] }),
    'ROOT_CHAIN_MALFORMED',
    /^root statement: threshold 0/,
  );
});

test('manifest refusals name the record at fault', () => {
  const names = [
    'model',
    'version',
    'security version',
    'release id',
    'creation time',
    'plaintext size',
    'plaintext digest',
    'compression',
    'encryption',
    'chunk size',
    'payload size',
    'flags',
    'payload digest',
  ];
  const fixed = [undefined, undefined, 4, 16, 8, 8, 32, 11, 25, 4, 8, 4, 32];
  const r = new ByteReader(manifestBytes as Uint8Array, 'MANIFEST_MALFORMED', 'test');
  const records: Uint8Array[] = [];
  const tags: number[] = [];
  while (r.remaining > 0) {
    const tag = r.u8();
    tags.push(tag);
    records.push(new ByteWriter().u8(tag).u16(0).finish(), r.bytes(r.u16()));
  }
  assert.deepEqual(tags, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12], 'flags come before the payload digest');
  names.forEach((name, i) => {
    const length = fixed[i];
    if (length === undefined) return;
    const parts = records.map((p, k) =>
      k === 2 * i
        ? new ByteWriter()
            .u8(tags[i] as number)
            .u16(length + 1)
            .finish()
        : k === 2 * i + 1
          ? padded(p, length + 1)
          : k % 2 === 0
            ? new ByteWriter()
                .u8(tags[k / 2] as number)
                .u16((records[k + 1] as Uint8Array).length)
                .finish()
            : p,
    );
    refuses(
      () => decodeManifest(new Uint8Array(Buffer.concat(parts))),
      'MANIFEST_MALFORMED',
      new RegExp(`^manifest: ${name} must be ${length} bytes, not ${length + 1}`),
    );
  });
});

test('root chain refusals name the statement and the step', () => {
  const [a, b] = [testKey('edge root 2a'), testKey('edge root 2b')];
  const sign = (keys: (typeof a)[], message: Uint8Array) =>
    keys.map((k) => signEntry(k.secretKey, k.publicKey, message));
  const root1 = [testKey('fuzz root 1a'), testKey('fuzz root 1b')];
  const s2 = makeRootStatement({ version: 2, threshold: 2, keys: [a.publicKey, b.publicKey] }, (message) => ({
    previous: sign(root1, message),
    own: sign([a], message),
  }));
  refuses(
    () => verifyRootChain(decodeRootChain(encodeRootChain([s2])), pinnedRoot),
    'SIGNATURE_THRESHOLD',
    /^root version 2 \(its own keys\) has 1/,
  );
  const s4 = makeRootStatement({ version: 4, threshold: 1, keys: [a.publicKey] }, () => ({
    previous: [],
    own: [],
  }));
  const gap = new Uint8Array(
    Buffer.concat([
      Uint8Array.of(2, 0, 0, 0),
      encodeRootChain([s2]).subarray(4),
      encodeRootChain([s4]).subarray(4),
    ]),
  );
  refuses(
    () => decodeRootChain(gap),
    'ROOT_CHAIN_MALFORMED',
    /^root chain: root version 4 follows version 2; versions rise by one/,
  );
  const bad = new Uint8Array(encodeRootChain([s2]));
  bad[4 + 4] = 0; // the first statement's threshold
  refuses(
    () => decodeRootChain(bad),
    'ROOT_CHAIN_MALFORMED',
    /^root statement: threshold 0 does not fit 2 keys/,
  );
});
