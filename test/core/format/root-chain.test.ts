// The root chain (FORMAT.md §Root chain): a device walks from the root it pinned to the newest, each
// step signed by a threshold of the old keys and of the new; anything else is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SigningKeyPair } from '../../../src/core/crypto/index.ts';
import {
  decodeRootChain,
  encodeRootChain,
  makeRootStatement,
  type RootStatement,
  verifyRootChain,
} from '../../../src/core/format/root-chain.ts';
import { signEntry } from '../../../src/core/format/signatures.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import { testKey } from '../../support/fixtures.ts';

const v1 = [testKey('chain root 1a'), testKey('chain root 1b')];
const v2 = [testKey('chain root 2a'), testKey('chain root 2b')];
const v3 = [testKey('chain root 3')];

function statement(
  version: number,
  keys: SigningKeyPair[],
  threshold: number,
  previous: SigningKeyPair[],
  own: SigningKeyPair[] = keys,
): RootStatement {
  return makeRootStatement({ version, threshold, keys: keys.map((k) => k.publicKey) }, (message) => ({
    previous: previous.map((k) => signEntry(k.secretKey, k.publicKey, message)),
    own: own.map((k) => signEntry(k.secretKey, k.publicKey, message)),
  }));
}

const pinned1 = { version: 1, threshold: 2, keys: v1.map((k) => k.publicKey) };
const good = [statement(2, v2, 2, v1), statement(3, v3, 1, v2)];

test('a device that pinned root 1 walks to root 3; one that pinned 2 or 3 skips what it has', () => {
  const chain = decodeRootChain(encodeRootChain(good));
  assert.equal(verifyRootChain(chain, pinned1).version, 3);
  assert.deepEqual(verifyRootChain(chain, pinned1).keys, [v3[0]?.publicKey]);
  // A device that pinned root 2 trusts its own pin; the statement for 2 is not checked again.
  const pinned2 = { version: 2, threshold: 2, keys: v2.map((k) => k.publicKey) };
  assert.equal(verifyRootChain(chain, pinned2).version, 3);
  assert.equal(verifyRootChain(chain, { ...pinned2, version: 3 }).version, 3);
  assert.deepEqual(decodeRootChain(new Uint8Array(0)), [], 'no chain: zero bytes');
  assert.equal(verifyRootChain([], pinned1), pinned1);
});

test('each step needs a threshold of the old keys and of its own', () => {
  const cases: [string, RootStatement[], string][] = [
    ['one old key of two', [statement(2, v2, 2, v1.slice(0, 1))], 'SIGNATURE_THRESHOLD'],
    ['one own key of two', [statement(2, v2, 2, v1, v2.slice(0, 1))], 'SIGNATURE_THRESHOLD'],
    ['signed by the new keys as the old', [statement(2, v2, 2, v2)], 'SIGNATURE_UNKNOWN_KEY'],
    [
      'a later step signed by root 1 again',
      [good[0] as RootStatement, statement(3, v3, 1, v1)],
      'SIGNATURE_UNKNOWN_KEY',
    ],
  ];
  for (const [what, chain, code] of cases) {
    assert.throws(() => verifyRootChain(decodeRootChain(encodeRootChain(chain)), pinned1), { code }, what);
  }
});

test('a flipped bit anywhere in a statement is refused', () => {
  const bytes = encodeRootChain(good.slice(0, 1));
  for (let at = 4; at < bytes.length; at++) {
    const bad = bytes.slice();
    bad[at] = (bad[at] as number) ^ 0x01;
    assert.throws(() => verifyRootChain(decodeRootChain(bad), pinned1), `byte ${at}`);
  }
});

test('a chain that does not start next to the pinned root, or skips a version, is refused', () => {
  assert.throws(() => verifyRootChain(decodeRootChain(encodeRootChain(good.slice(1))), pinned1), {
    code: 'ROOT_CHAIN_BROKEN',
  });
  assert.throws(() => encodeRootChain([good[0] as RootStatement, statement(4, v3, 1, v2)]), {
    code: 'ROOT_CHAIN_MALFORMED',
  });
  assert.throws(() => encodeRootChain([statement(1, v2, 2, v1)]), { code: 'ROOT_CHAIN_MALFORMED' });
});

test('the decoder is strict about counts, reserved bytes, trailing bytes and limits', () => {
  const bytes = encodeRootChain(good);
  const withReserved = bytes.slice();
  withReserved[2] = 1;
  assert.throws(() => decodeRootChain(withReserved), { code: 'ROOT_CHAIN_MALFORMED' });
  assert.throws(() => decodeRootChain(Buffer.concat([bytes, Uint8Array.of(0)])), {
    code: 'ROOT_CHAIN_MALFORMED',
  });
  assert.throws(() => decodeRootChain(bytes.subarray(0, bytes.length - 1)), { code: 'ROOT_CHAIN_MALFORMED' });
  assert.throws(() => decodeRootChain(Uint8Array.of(0, 0, 0, 0)), { code: 'ROOT_CHAIN_MALFORMED' });
  const tooMany = bytes.slice();
  tooMany[0] = LIMITS.rootStatements + 1;
  assert.throws(() => decodeRootChain(tooMany), { code: 'LIMIT_EXCEEDED' });
  assert.throws(() => decodeRootChain(new Uint8Array(LIMITS.rootChainBytes + 1)), { code: 'LIMIT_EXCEEDED' });
});
