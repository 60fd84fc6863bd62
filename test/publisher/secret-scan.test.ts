import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { newSigningKeyFiles } from '../../src/core/keys.ts';
import {
  type Finding,
  isHighEntropy,
  MAX_FINDINGS,
  SCAN_WINDOW_BYTES,
  SecretScanner,
  scanSecrets,
  scanSecretsStream,
} from '../../src/publisher/secret-scan.ts';
import { PYBRICKS_PREVIOUS, pybricksCorpus } from '../helpers.ts';

const corpus = await pybricksCorpus();
const movehub = corpus.get('movehub') as Uint8Array;
const latin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));

/** Fixed "random" bytes, so a failure reproduces: SHA-256 of a label, repeated as needed. */
function pseudoRandom(label: string, length: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < length; i++)
    parts.push(createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.concat(parts).subarray(0, length);
}

const RANDOM_32 = pseudoRandom('password', 24).toString('base64'); // 32 characters, no padding
const PEM_BODY = `${pseudoRandom('pem', 48).toString('base64')}\n`;
const pem = (label: string) => `-----BEGIN ${label}-----\n${PEM_BODY}-----END ${label}-----\n`;

/** The secrets the scanner must find, each with the kind it reports and where the secret starts. */
const SAMPLES: readonly { name: string; text: string; kind: Finding['kind']; at: number }[] = [
  { name: 'PKCS#8 key', text: pem('PRIVATE KEY'), kind: 'pem-private-key', at: 0 },
  { name: 'RSA key', text: pem('RSA PRIVATE KEY'), kind: 'pem-private-key', at: 0 },
  { name: 'EC key', text: pem('EC PRIVATE KEY'), kind: 'pem-private-key', at: 0 },
  { name: 'DSA key', text: pem('DSA PRIVATE KEY'), kind: 'pem-private-key', at: 0 },
  { name: 'encrypted key', text: pem('ENCRYPTED PRIVATE KEY'), kind: 'pem-private-key', at: 0 },
  { name: 'OpenSSH key', text: pem('OPENSSH PRIVATE KEY'), kind: 'openssh-private-key', at: 0 },
  { name: 'raw OpenSSH key', text: 'openssh-key-v1\0\0\0\0\x04none', kind: 'openssh-private-key', at: 0 },
  { name: 'AWS access key id', text: 'AKIAIOSFODNN7EXAMPLE', kind: 'aws-access-key-id', at: 0 },
  { name: 'AWS session key id', text: 'ASIAY34FZKBOKMUTVV7A', kind: 'aws-access-key-id', at: 0 },
  {
    name: 'AWS secret key',
    text: 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n',
    kind: 'aws-secret-access-key',
    at: 24,
  },
  {
    name: 'Azure storage key',
    text: `DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${pseudoRandom('azure', 64).toString('base64')};`,
    kind: 'azure-storage-key',
    at: 56,
  },
  {
    name: 'Google API key',
    text: `AIza${pseudoRandom('g', 30).toString('base64url').slice(0, 35)}`,
    kind: 'google-api-key',
    at: 0,
  },
  {
    name: 'GitHub token',
    text: `ghp_${pseudoRandom('gh', 27).toString('hex').slice(0, 36)}`,
    kind: 'github-token',
    at: 0,
  },
  {
    name: 'GitHub fine-grained token',
    text: `github_pat_11ABCDEFG0${pseudoRandom('pat', 60).toString('hex').slice(0, 12)}_${pseudoRandom('pat2', 60).toString('hex').slice(0, 59)}`,
    kind: 'github-token',
    at: 0,
  },
  { name: 'password', text: `password=${RANDOM_32}\n`, kind: 'high-entropy-secret', at: 9 },
  {
    name: 'JSON token',
    text: `{"api_token": "${pseudoRandom('tok', 30).toString('hex')}"}`,
    kind: 'high-entropy-secret',
    at: 15,
  },
];

/** The Move Hub firmware with `text` written over it at `offset`. */
function plant(text: string, offset: number, base: Uint8Array = movehub): Uint8Array {
  const out = new Uint8Array(Math.max(base.length, offset + text.length));
  out.set(base);
  out.set(latin1(text), offset);
  return out;
}

test('the seven Pybricks builds, current and previous, contain nothing that looks like a secret', async () => {
  assert.equal(corpus.size, 7);
  for (const [name, firmware] of [...corpus, ...(await pybricksCorpus(PYBRICKS_PREVIOUS))]) {
    assert.deepEqual(scanSecrets(firmware).findings, [], name);
  }
});

test('finds a PEM private key embedded in firmware, at its offset', () => {
  const { findings } = scanSecrets(plant(pem('RSA PRIVATE KEY'), 40_000));
  assert.deepEqual(findings, [{ kind: 'pem-private-key', offset: 40_000, excerpt: '----…' }]);
});

test('finds an AWS access key id embedded in firmware', () => {
  const { findings } = scanSecrets(plant('\0id=AKIAIOSFODNN7EXAMPLE\0', 1234));
  assert.deepEqual(findings, [{ kind: 'aws-access-key-id', offset: 1238, excerpt: 'AKIA…' }]);
});

test('finds a sihl private key file, pretty-printed or compact', async () => {
  const { privateFile, publicFile } = await newSigningKeyFiles('approver', 'x');
  const compact = JSON.stringify(JSON.parse(privateFile));
  assert.ok(compact.includes('"sihl":"private-key"'));
  for (const file of [privateFile, compact]) {
    const { findings } = scanSecrets(plant(file, 5000));
    const offset = 5000 + file.indexOf('"sihl"');
    assert.deepEqual(findings, [{ kind: 'sihl-private-key', offset, excerpt: '"sih…' }]);
  }
  assert.deepEqual(scanSecrets(plant(publicFile, 5000)).findings, [], 'a public key file is no secret');
});

test('finds a random base64 value after "password="', () => {
  const { findings } = scanSecrets(plant(`\0password=${RANDOM_32}\0`, 777));
  assert.deepEqual(findings, [
    { kind: 'high-entropy-secret', offset: 787, excerpt: `${RANDOM_32.slice(0, 4)}…` },
  ]);
});

test('finds every kind of secret, each once and where it starts', () => {
  for (const sample of SAMPLES) {
    const { findings } = scanSecrets(plant(`\n${sample.text}\n`, 3000));
    assert.deepEqual(
      findings.map((f) => [f.kind, f.offset]),
      [[sample.kind, 3001 + sample.at]],
      sample.name,
    );
  }
});

test('keywords followed by words, identifiers, padding or other strings are not secrets', () => {
  for (const text of [
    'password=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    'token = FunctionPrototypeBindAndCall',
    'secret: ERR_INVALID_SECRET_KEY_LENGTH',
    'api_key = deadbeefdeadbeefdeadbeefdeadbeef',
    'PASSWORD must be at least twelve characters long and not all letters',
    'ssl_log_secret\0v8dbg_type_PromiseResolveThenableJob7Task',
    `secret_key_${RANDOM_32}`, // a keyword inside a longer identifier labels nothing
    `password${'\0'.repeat(40)}${RANDOM_32}`,
  ]) {
    assert.deepEqual(scanSecrets(plant(text, 100)).findings, [], text);
  }
});

test('the entropy test accepts random values and refuses words and patterns', () => {
  for (let i = 0; i < 200; i++) {
    assert.ok(isHighEntropy(pseudoRandom(`b64/${i}`, 24).toString('base64')), `base64 ${i}`);
    assert.ok(isHighEntropy(pseudoRandom(`hex/${i}`, 16).toString('hex')), `hex ${i}`);
  }
  for (const value of ['0123012301230123012301', 'abcdefghijklmnopqrstuvwxyz', 'MICROPY_PY_USSL_FINALISER']) {
    assert.equal(isHighEntropy(value), false, value);
  }
});

test('a secret across a window boundary is found once, at every split point', () => {
  const window = 4096;
  for (const sample of SAMPLES) {
    for (let split = 1; split < sample.text.length; split += 3) {
      const firmware = plant(sample.text, window - split, new Uint8Array(3 * window));
      const { findings } = scanSecrets(firmware, { windowBytes: window });
      assert.deepEqual(
        findings.map((f) => [f.kind, f.offset]),
        [[sample.kind, window - split + sample.at]],
        `${sample.name}, split after ${split}`,
      );
    }
  }
});

test('a secret split across pushed pieces is found once, whatever the piece sizes', () => {
  const text = `password: "${RANDOM_32}" AKIAIOSFODNN7EXAMPLE ${pem('EC PRIVATE KEY')}`;
  const firmware = plant(text, 1000, movehub.subarray(0, 2000));
  const expected = scanSecrets(firmware).findings;
  assert.equal(expected.length, 3);
  for (const piece of [1, 2, 7, 64, 333, 1024]) {
    const scanner = new SecretScanner({ windowBytes: 512 });
    for (let at = 0; at < firmware.length; at += piece) scanner.push(firmware.subarray(at, at + piece));
    assert.deepEqual(scanner.finish().findings, expected, `pieces of ${piece}`);
  }
  const large = plant(text, SCAN_WINDOW_BYTES - 20, new Uint8Array(SCAN_WINDOW_BYTES + 4096));
  assert.equal(scanSecrets(large).findings.length, 3, 'across the default window');
});

test('an excerpt never holds the secret: at most four characters and an ellipsis', () => {
  const text = SAMPLES.map((s) => s.text).join('\n');
  const { findings } = scanSecrets(plant(`\n${text}\n`, 2000));
  assert.equal(findings.length, SAMPLES.length);
  for (const finding of findings) {
    assert.match(finding.excerpt, /^[\x20-\x7e]{0,4}…$/);
    const secret = Buffer.from(
      plant(`\n${text}\n`, 2000).subarray(finding.offset, finding.offset + 20),
    ).toString('latin1');
    assert.ok(!finding.excerpt.includes(secret), finding.kind);
  }
  assert.ok(!JSON.stringify(findings).includes(RANDOM_32));
  assert.ok(!JSON.stringify(findings).includes('AKIAIOSFODNN7EXAMPLE'));
});

test('findings beyond the limit are counted, not kept', () => {
  const text = 'AKIAIOSFODNN7EXAMPLE '.repeat(MAX_FINDINGS + 5);
  const result = scanSecrets(latin1(text));
  assert.equal(result.findings.length, MAX_FINDINGS);
  assert.equal(result.omitted, 5);
});

test('hostile input stays linear: megabytes of keywords and PEM headers', () => {
  const started = performance.now();
  for (const unit of ['password=', '-----BEGIN ', 'token ', 'AKIA', '"sihl": ']) {
    assert.deepEqual(scanSecrets(latin1(unit.repeat((4 * 1024 * 1024) / unit.length))).findings, [], unit);
  }
  assert.ok(performance.now() - started < 20_000, 'each pattern is checked in bounded steps');
});

test('64 MiB streams through in bounded memory and reasonable time', async (t) => {
  const total = 64 * 1024 * 1024;
  const piece = new Uint8Array(1024 * 1024);
  for (let at = 0; at < piece.length; at += movehub.length)
    piece.set(movehub.subarray(0, piece.length - at), at);
  const last = total - piece.length;
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const baseline = used();
  let peak = 0;
  async function* chunks() {
    for (let at = 0; at < total; at += piece.length) {
      peak = Math.max(peak, used() - baseline);
      // The one planted secret straddles the last two pieces.
      const copy = at === last - piece.length || at === last ? piece.slice() : piece;
      if (at === last - piece.length) copy.set(latin1('\0AKIAIOSFOD'), piece.length - 11);
      if (at === last) copy.set(latin1('NN7EXAMPLE\0'), 0);
      yield copy;
    }
  }
  const started = performance.now();
  const result = await scanSecretsStream(chunks());
  const seconds = (performance.now() - started) / 1000;
  const rate = total / 1024 / 1024 / seconds;
  t.diagnostic(
    `scanned 64 MiB in ${seconds.toFixed(2)} s: ${rate.toFixed(0)} MiB/s; peak growth ${(peak / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.equal(result.scannedBytes, total);
  assert.deepEqual(result.findings, [{ kind: 'aws-access-key-id', offset: last - 10, excerpt: 'AKIA…' }]);
  assert.ok(peak < 16 * 1024 * 1024, `memory grew by ${peak} bytes`);
  assert.ok(rate > 20, `${rate} MiB/s`);
});

test('a scanner refuses bytes after it has finished', () => {
  const scanner = new SecretScanner();
  scanner.push(movehub);
  scanner.finish();
  assert.throws(() => scanner.push(movehub), /after finish/);
});
