// Runs every Project Wycheproof case for the three primitives sihl uses through its own wrappers, so a
// wrapper that drops a check libsodium makes (or adds one that breaks valid input) shows up here.
// The vectors are in test/fixtures/wycheproof (see the README there for their origin and licence).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { aeadDecrypt, aeadEncrypt, verify, x25519 } from '../../../src/core/crypto/index.ts';

type Result = 'valid' | 'invalid' | 'acceptable';

interface Case {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly result: Result;
}

interface VectorFile<G> {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: readonly G[];
}

interface EddsaGroup {
  readonly publicKey: { readonly pk: string };
  readonly tests: readonly (Case & { readonly msg: string; readonly sig: string })[];
}

interface XdhGroup {
  readonly curve: string;
  readonly tests: readonly (Case & {
    readonly public: string;
    readonly private: string;
    readonly shared: string;
  })[];
}

interface AeadGroup {
  readonly ivSize: number;
  readonly tests: readonly (Case & {
    readonly key: string;
    readonly iv: string;
    readonly aad: string;
    readonly msg: string;
    readonly ct: string;
    readonly tag: string;
  })[];
}

async function load<G>(name: string): Promise<VectorFile<G>> {
  const text = await readFile(new URL(`../../fixtures/wycheproof/${name}`, import.meta.url), 'utf8');
  return JSON.parse(text) as VectorFile<G>;
}

const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array | null) => (bytes === null ? 'null' : Buffer.from(bytes).toString('hex'));
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a).equals(b);

/** Counts cases by expected result, and collects every case whose outcome breaks its rule. */
class Tally {
  readonly counts: Record<Result, number> = { valid: 0, invalid: 0, acceptable: 0 };
  readonly failures: string[] = [];

  count(c: Case): void {
    this.counts[c.result] += 1;
  }

  fail(c: Case, why: string): void {
    this.failures.push(`tcId ${c.tcId} (${c.result}; ${c.comment || c.flags.join(', ')}): ${why}`);
  }

  get total(): number {
    return this.counts.valid + this.counts.invalid + this.counts.acceptable;
  }
}

const ed25519 = await load<EddsaGroup>('ed25519_test.json');
const xdh = await load<XdhGroup>('x25519_test.json');
const xchacha = await load<AeadGroup>('xchacha20_poly1305_test.json');

const caseCount = (file: VectorFile<{ readonly tests: readonly unknown[] }>) =>
  file.testGroups.reduce((sum, group) => sum + group.tests.length, 0);

test('the Wycheproof files hold the number of cases they declare', () => {
  assert.equal(ed25519.algorithm, 'EDDSA');
  assert.equal(xdh.algorithm, 'XDH');
  assert.equal(xchacha.algorithm, 'XCHACHA20-POLY1305');
  assert.equal(caseCount(ed25519), ed25519.numberOfTests);
  assert.equal(caseCount(xdh), xdh.numberOfTests);
  assert.equal(caseCount(xchacha), xchacha.numberOfTests);
});

test('Ed25519 verify accepts every valid Wycheproof signature and rejects every invalid one', (t) => {
  const tally = new Tally();
  const acceptable: string[] = [];
  for (const group of ed25519.testGroups) {
    const publicKey = hex(group.publicKey.pk);
    for (const c of group.tests) {
      tally.count(c);
      const ok = verify(publicKey, hex(c.msg), hex(c.sig));
      if (c.result === 'valid' && !ok) tally.fail(c, 'rejected');
      else if (c.result === 'invalid' && ok) tally.fail(c, 'accepted');
      else if (c.result === 'acceptable') acceptable.push(`tcId ${c.tcId}: ${ok ? 'accepted' : 'rejected'}`);
    }
  }
  t.diagnostic(`ed25519: ${JSON.stringify(tally.counts)}; acceptable: ${acceptable.join(', ') || 'none'}`);
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.total, ed25519.numberOfTests);
  assert.equal(tally.counts.valid + tally.counts.invalid, ed25519.numberOfTests - acceptable.length);
});

test('X25519 matches every valid Wycheproof shared secret and never returns a wrong one', (t) => {
  assert.equal(xdh.testGroups.length, 1);
  const tally = new Tally();
  const acceptable = { refused: 0, matched: 0 };
  for (const group of xdh.testGroups) {
    assert.equal(group.curve, 'curve25519');
    for (const c of group.tests) {
      tally.count(c);
      // xdh_comp_schema: "public" is the raw 32-byte u-coordinate, not an ASN.1 structure.
      const shared = x25519(hex(c.private), hex(c.public));
      const expected = hex(c.shared);
      if (c.result === 'valid') {
        if (!same(shared, expected)) tally.fail(c, `got ${toHex(shared)}`);
      } else if (c.result === 'invalid') {
        if (same(shared, expected)) tally.fail(c, 'accepted');
      } else if (shared === null) {
        acceptable.refused += 1;
      } else if (same(shared, expected)) {
        acceptable.matched += 1;
      } else {
        tally.fail(c, `acceptable case gave a third answer ${toHex(shared)}`);
      }
    }
  }
  t.diagnostic(`x25519: ${JSON.stringify(tally.counts)}; acceptable ${JSON.stringify(acceptable)}`);
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.total, xdh.numberOfTests);
  assert.equal(acceptable.refused + acceptable.matched, tally.counts.acceptable);
});

test('X25519 refuses exactly the Wycheproof public keys that give an all-zero shared secret', () => {
  // box.ts promises null for an all-zero result (RFC 7748 §6.1); every other case must compute.
  const wrong: number[] = [];
  let zero = 0;
  for (const c of xdh.testGroups.flatMap((group) => group.tests)) {
    const allZero = /^(00)+$/.test(c.shared);
    if (allZero) zero += 1;
    const refused = x25519(hex(c.private), hex(c.public)) === null;
    if (refused !== allZero) wrong.push(c.tcId);
  }
  assert.deepEqual(wrong, []);
  assert.ok(zero > 0, 'the file should hold low-order public keys');
});

test('XChaCha20-Poly1305 reproduces every valid Wycheproof ciphertext and refuses every invalid one', (t) => {
  const tally = new Tally();
  const nonceSizes = new Set<number>();
  for (const group of xchacha.testGroups) {
    nonceSizes.add(group.ivSize);
    for (const c of group.tests) {
      tally.count(c);
      const key = hex(c.key);
      const nonce = hex(c.iv);
      const aad = hex(c.aad);
      const msg = hex(c.msg);
      const sealed = hex(c.ct + c.tag);
      if (c.result === 'valid') {
        const encrypted = aeadEncrypt(key, nonce, msg, aad);
        if (!same(encrypted, sealed)) tally.fail(c, `encrypt gave ${toHex(encrypted)}`);
        const decrypted = aeadDecrypt(key, nonce, sealed, aad);
        if (!same(decrypted, msg)) tally.fail(c, `decrypt gave ${toHex(decrypted)}`);
      } else {
        // Invalid cases are altered tags or nonces of the wrong size; both must fail to decrypt.
        const decrypted = aeadDecrypt(key, nonce, sealed, aad);
        if (c.result === 'invalid' && decrypted !== null) tally.fail(c, 'decrypted');
        if (c.result === 'acceptable') tally.fail(c, 'no acceptable cases are expected for this AEAD');
      }
    }
  }
  t.diagnostic(
    `xchacha20-poly1305: ${JSON.stringify(tally.counts)}; nonce sizes ${[...nonceSizes].join(', ')} bits`,
  );
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.total, xchacha.numberOfTests);
});
