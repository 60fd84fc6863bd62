// Edges of signature blocks, delegations, key envelopes and root chains that mutation testing
// (docs/ASSURANCE.md) showed no other test pinned: limits at and one past their value, each refusal's
// code and message, and the order in which the threshold rule looks at entries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateBoxKeyPair, type SigningKeyPair } from '../../../src/core/crypto/index.ts';
import { keyIdOf } from '../../../src/core/crypto/sign.ts';
import { ByteWriter, toHex } from '../../../src/core/format/bytes.ts';
import {
  decodeDelegationBody,
  decodeSignedDelegation,
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
  verifyDelegation,
} from '../../../src/core/format/delegation.ts';
import {
  decodeEnvelope,
  ENVELOPE_BYTES,
  openEnvelope,
  recipientIdOf,
  sealEnvelope,
} from '../../../src/core/format/envelope.ts';
import { decodeRootChain, encodeRootChain, verifyRootChain } from '../../../src/core/format/root-chain.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  type SignatureEntry,
  signatureBlockSize,
  signEntry,
  sortedByKeyId,
  verifyThreshold,
} from '../../../src/core/format/signatures.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import { testKey } from '../../support/fixtures.ts';
import { refuses } from '../../support/refuses.ts';

const keys: SigningKeyPair[] = Array.from({ length: 17 }, (_, i) => testKey(`mutants ${i}`));
const byId = [...keys].sort((a, b) => Buffer.compare(keyIdOf(a.publicKey), keyIdOf(b.publicKey)));
const message = new TextEncoder().encode('message');
const entry = (k: SigningKeyPair): SignatureEntry => signEntry(k.secretKey, k.publicKey, message);
const prefix = (k: SigningKeyPair) => toHex(keyIdOf(k.publicKey)).slice(0, 16);

test('a signature block holds up to 16 entries, in key id order, with zero reserved bytes', () => {
  assert.equal(signatureBlockSize(0), 4);
  assert.equal(signatureBlockSize(2), 4 + 2 * 96);
  const sixteen = byId.slice(0, 16).map(entry);
  const block = encodeSignatureBlock([...sixteen].reverse());
  assert.deepEqual(decodeSignatureBlock(block), sortedByKeyId(sixteen));
  refuses(() => encodeSignatureBlock(byId.map(entry)), 'LIMIT_EXCEEDED', /^more than 16 signatures$/);
  const seventeen = new ByteWriter().u8(17).u8(0).u16(0).finish();
  refuses(
    () => decodeSignatureBlock(seventeen),
    'LIMIT_EXCEEDED',
    /^signature block: 17 signatures; the limit is 16$/,
  );
  for (const at of [1, 2, 3]) {
    const reserved = encodeSignatureBlock([]);
    reserved[at] = 1;
    refuses(() => decodeSignatureBlock(reserved), 'SIGNATURE_BLOCK_MALFORMED', /reserved bytes are not zero/);
  }
  refuses(
    () => decodeSignatureBlock(block.subarray(0, block.length - 1)),
    'SIGNATURE_BLOCK_MALFORMED',
    /^signature block: length 1539 does not fit 16 signatures/,
  );
});

test('the threshold rule: every entry trusted, distinct, in order and valid; then enough of them', () => {
  const [a, b, c] = byId as [SigningKeyPair, SigningKeyPair, SigningKeyPair];
  const trusted = { keys: [c, a, b].map((k) => k.publicKey), threshold: 2 };
  assert.deepEqual(
    verifyThreshold(message, [entry(a), entry(b)], trusted, 'thing').map(toHex),
    [a, b].map((k) => toHex(keyIdOf(k.publicKey))),
  );
  assert.equal(verifyThreshold(message, [entry(a), entry(b), entry(c)], trusted, 'thing').length, 3);
  refuses(
    () => verifyThreshold(message, [entry(a)], trusted, 'thing'),
    'SIGNATURE_THRESHOLD',
    /^thing has 1 valid signature\(s\) by distinct trusted keys; 2 required$/,
  );
  const stranger = byId[5] as SigningKeyPair;
  refuses(
    () => verifyThreshold(message, [entry(a), entry(stranger)], trusted, 'thing'),
    'SIGNATURE_UNKNOWN_KEY',
    new RegExp(`^thing is signed by key ${prefix(stranger)}…, which is not trusted$`),
  );
  refuses(
    () => verifyThreshold(message, [entry(a), entry(a)], trusted, 'thing'),
    'SIGNATURE_DUPLICATE_KEY',
    new RegExp(`^thing carries two signatures by key ${prefix(a)}…$`),
  );
  refuses(
    () => verifyThreshold(message, [entry(b), entry(a)], trusted, 'thing'),
    'SIGNATURE_BLOCK_MALFORMED',
    /^thing signatures are not in increasing key id order$/,
  );
  const forged = { keyId: keyIdOf(b.publicKey), signature: entry(a).signature };
  refuses(
    () => verifyThreshold(message, [entry(a), forged], trusted, 'thing'),
    'SIGNATURE_INVALID',
    new RegExp(`^thing signature by key ${prefix(b)}… does not verify$`),
  );
  // A bad entry is refused even when the good ones already reach the threshold.
  refuses(
    () =>
      verifyThreshold(
        message,
        [entry(a), entry(b), { ...entry(c), signature: new Uint8Array(64) }],
        trusted,
        'x',
      ),
    'SIGNATURE_INVALID',
    /x signature/,
  );
});

test('a delegation body: version from 1, threshold from 1 to its key count, keys valid and in key id order', () => {
  const three = byId.slice(0, 3).map((k) => k.publicKey);
  const body = encodeDelegationBody({ version: 1, threshold: 3, keys: [...three].reverse() });
  assert.deepEqual(decodeDelegationBody(body), { version: 1, threshold: 3, keys: three });
  const raw = (version: number, threshold: number, count: number, list: Uint8Array[], reserved = 0) => {
    const w = new ByteWriter().u32(version).u8(threshold).u8(count).u16(reserved);
    for (const k of list) w.bytes(k);
    return w.finish();
  };
  refuses(
    () => decodeDelegationBody(raw(1, 1, 1, three.slice(0, 1), 1)),
    'DELEGATION_MALFORMED',
    /^delegation: reserved bytes are not zero/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 1, 17, [])),
    'LIMIT_EXCEEDED',
    /^delegation: 17 keys; the limit is 16$/,
  );
  refuses(
    () => decodeDelegationBody(raw(0, 1, 1, three.slice(0, 1))),
    'DELEGATION_MALFORMED',
    /version 0 is not allowed/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 0, 1, three.slice(0, 1))),
    'DELEGATION_MALFORMED',
    /threshold 0 does not fit 1 keys/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 2, 1, three.slice(0, 1))),
    'DELEGATION_MALFORMED',
    /threshold 2 does not fit 1 keys/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 1, 2, [three[1] as Uint8Array, three[0] as Uint8Array])),
    'DELEGATION_MALFORMED',
    /strictly increasing key id order/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 1, 2, [three[0] as Uint8Array, three[0] as Uint8Array])),
    'DELEGATION_MALFORMED',
    /strictly increasing key id order/,
  );
  refuses(
    () => decodeDelegationBody(raw(1, 1, 1, [new Uint8Array(32)])),
    'DELEGATION_MALFORMED',
    /delegated key 0/,
  );
  refuses(() => decodeDelegationBody(new Uint8Array([...body, 0])), 'DELEGATION_MALFORMED', /trailing/);
  const sixteen = byId.slice(0, 16).map((k) => k.publicKey);
  assert.equal(
    decodeDelegationBody(encodeDelegationBody({ version: 2, threshold: 16, keys: sixteen })).keys.length,
    16,
  );
});

test('a signed delegation: bounded, split at its key list, verified by the root, never older than the device accepted', () => {
  const root = byId.slice(0, 2);
  const rootKeys = { keys: root.map((k) => k.publicKey), threshold: 2 };
  const body = encodeDelegationBody({ version: 5, threshold: 1, keys: [byId[3]?.publicKey as Uint8Array] });
  const signatures = root.map((k) => signEntry(k.secretKey, k.publicKey, delegationMessage(body)));
  const bytes = encodeSignedDelegation(body, signatures);
  const signed = decodeSignedDelegation(bytes);
  assert.ok(Buffer.from(signed.body).equals(body));
  assert.equal(verifyDelegation(signed, rootKeys, 5).version, 5);
  refuses(
    () => verifyDelegation(signed, rootKeys, 6),
    'DELEGATION_ROLLBACK',
    /^delegation version 5 is older than 6, the highest this device accepted$/,
  );
  refuses(
    () => verifyDelegation(signed, { ...rootKeys, threshold: 3 }, 0),
    'SIGNATURE_THRESHOLD',
    /^delegation has 2/,
  );
  refuses(
    () => decodeSignedDelegation(new Uint8Array(LIMITS.delegationBytes + 1)),
    'LIMIT_EXCEEDED',
    /^delegation is 8193 bytes; the limit is 8192$/,
  );
  refuses(
    () => decodeSignedDelegation(bytes.subarray(0, 7)),
    'DELEGATION_MALFORMED',
    /shorter than its fixed fields/,
  );
  const many = new Uint8Array(bytes);
  many[5] = 17;
  refuses(() => decodeSignedDelegation(many), 'LIMIT_EXCEEDED', /^delegation: 17 keys; the limit is 16$/);
  refuses(
    () => decodeSignedDelegation(bytes.subarray(0, 8 + 31)),
    'DELEGATION_MALFORMED',
    /shorter than its key list/,
  );
  // Exactly the body and an empty block: the key list is complete; the missing signatures fail later.
  assert.equal(decodeSignedDelegation(encodeSignedDelegation(body, [])).signatures.length, 0);
});

test('a key envelope is exactly its size, and opens only for its device and image', () => {
  const device = generateBoxKeyPair();
  const key = new Uint8Array(32).fill(5);
  const binding = new Uint8Array(32).fill(6);
  const envelope = sealEnvelope(key, binding, device.publicKey);
  assert.equal(envelope.length, ENVELOPE_BYTES);
  assert.deepEqual(decodeEnvelope(envelope).recipient, recipientIdOf(device.publicKey));
  assert.deepEqual(openEnvelope(envelope, device, binding), key);
  refuses(
    () => decodeEnvelope(envelope.subarray(1)),
    'ENVELOPE_MALFORMED',
    new RegExp(`^a key envelope is ${ENVELOPE_BYTES} bytes, this one ${ENVELOPE_BYTES - 1}$`),
  );
  const damaged = (at: number) => {
    const out = envelope.slice();
    out[at] = (out[at] as number) ^ 1;
    return out;
  };
  refuses(
    () => decodeEnvelope(damaged(3)),
    'ENVELOPE_MALFORMED',
    /^envelope: not a sihl key envelope \(bad magic\)/,
  );
  refuses(() => decodeEnvelope(damaged(4)), 'ENVELOPE_MALFORMED', /unsupported envelope version/);
  refuses(() => decodeEnvelope(damaged(7)), 'ENVELOPE_MALFORMED', /reserved field is not zero/);
  refuses(
    () => openEnvelope(damaged(8), device, binding),
    'ENVELOPE_WRONG_RECIPIENT',
    /sealed to another device/,
  );
  refuses(
    () => openEnvelope(damaged(40), device, binding),
    'ENVELOPE_WRONG_IMAGE',
    /belongs to another image/,
  );
  refuses(
    () => openEnvelope(damaged(ENVELOPE_BYTES - 1), device, binding),
    'ENVELOPE_OPEN_FAILED',
    /does not open/,
  );
  // The binding in clear says this image, the one inside the box another: refused by the inner check.
  const inner = sealEnvelope(key, new Uint8Array(32).fill(7), device.publicKey);
  inner.set(binding, 8 + 32);
  refuses(() => openEnvelope(inner, device, binding), 'ENVELOPE_WRONG_IMAGE', /belongs to another image/);
});

test('root chain limits and refusals name the statement', () => {
  assert.equal(encodeRootChain([]).length, 0);
  refuses(
    () => decodeRootChain(new Uint8Array(LIMITS.rootChainBytes + 1)),
    'LIMIT_EXCEEDED',
    /^root chain is 16385 bytes; the limit is 16384$/,
  );
  refuses(
    () => decodeRootChain(Uint8Array.of(33, 0, 0, 0)),
    'LIMIT_EXCEEDED',
    /^root chain: 33 statements; the limit is 32$/,
  );
  refuses(() => decodeRootChain(Uint8Array.of(0, 0, 0, 0)), 'ROOT_CHAIN_MALFORMED', /at least one statement/);
  refuses(
    () => decodeRootChain(Uint8Array.of(1, 0, 1, 0)),
    'ROOT_CHAIN_MALFORMED',
    /reserved bytes are not zero/,
  );
  refuses(
    () => decodeRootChain(Uint8Array.of(1, 1, 0, 0)),
    'ROOT_CHAIN_MALFORMED',
    /reserved bytes are not zero/,
  );
  const statement = (version: number, count: number, threshold = 1) =>
    new ByteWriter()
      .u32(version)
      .u8(threshold)
      .u8(count)
      .u16(0)
      .bytes(byId[0]?.publicKey as Uint8Array)
      .finish();
  const chain = (...parts: Uint8Array[]) =>
    new Uint8Array(Buffer.concat([Uint8Array.of(1, 0, 0, 0), ...parts]));
  refuses(
    () => decodeRootChain(chain(statement(2, 17))),
    'LIMIT_EXCEEDED',
    /^root statement: 17 keys; the limit is 16$/,
  );
  refuses(
    () => decodeRootChain(chain(statement(1, 1))),
    'ROOT_CHAIN_MALFORMED',
    /root version 1 cannot follow another/,
  );
  refuses(
    () => decodeRootChain(chain(statement(2, 1), Uint8Array.of(17, 0, 0, 0))),
    'LIMIT_EXCEEDED',
    /^root statement: 17 signatures; the limit is 16$/,
  );
  const one = chain(statement(2, 1), encodeSignatureBlock([]), encodeSignatureBlock([]));
  assert.equal(decodeRootChain(one)[0]?.root.version, 2);
  refuses(() => decodeRootChain(new Uint8Array([...one, 0])), 'ROOT_CHAIN_MALFORMED', /trailing/);
  const pinned = { version: 3, threshold: 1, keys: [byId[0]?.publicKey as Uint8Array] };
  // Statements at or below the pinned version are skipped, even unsigned ones.
  assert.equal(verifyRootChain(decodeRootChain(one), pinned), pinned);
  assert.equal(verifyRootChain(decodeRootChain(one), { ...pinned, version: 2 }).version, 2);
  refuses(
    () => verifyRootChain(decodeRootChain(one), { ...pinned, version: 0 }),
    'ROOT_CHAIN_BROKEN',
    /^the image's root chain starts at version 2; this device pinned version 0$/,
  );
  refuses(
    () => verifyRootChain(decodeRootChain(one), { ...pinned, version: 1 }),
    'SIGNATURE_THRESHOLD',
    /^root version 2 \(old keys\) has 0/,
  );
});
