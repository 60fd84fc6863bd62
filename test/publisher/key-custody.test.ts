// Key files at rest: root and approver keys cost an attacker MODERATE Argon2id per guess, key files others
// can read are refused, every key has its own passphrase, and unlocked keys are wiped after use.
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DEFAULT_KDF_COST,
  generateSigningKeyPair,
  INSECURE_TEST_KDF_COST,
  keyFileCost,
  SIGNING_KDF_COST,
} from '../../src/core/crypto/index.ts';
import { openSigningKey } from '../../src/core/keys.ts';
import { HeldKeys } from '../../src/publisher/role-keys.ts';
import { initWorkspace } from '../../src/publisher/setup.ts';
import { tempDir } from '../helpers.ts';
import { sihl } from '../support/cli.ts';

async function kdfOf(path: string): Promise<{ opslimit: number; memlimit: number }> {
  return JSON.parse(await readFile(path, 'utf8')).kdf;
}

test('root keys are locked at MODERATE cost and the online keys at INTERACTIVE, all mode 0600', async () => {
  const saved = process.env.SIHL_INSECURE_TEST_KDF;
  delete process.env.SIHL_INSECURE_TEST_KDF; // the real costs, once (about two seconds)
  try {
    const dir = join(await tempDir(), 'acme');
    await initWorkspace(dir, { passphrase: 'shared for this test only' });
    const root = await kdfOf(join(dir, 'keys/root-1.key'));
    assert.deepEqual([root.opslimit, root.memlimit], [3, 256 * 1024 * 1024]);
    for (const online of ['rollout', 'snapshot', 'timestamp']) {
      const kdf = await kdfOf(join(dir, `keys/${online}.key`));
      assert.deepEqual([kdf.opslimit, kdf.memlimit], [2, 64 * 1024 * 1024]);
    }
    for (const name of ['root-1', 'rollout', 'snapshot', 'timestamp']) {
      assert.equal((await stat(join(dir, `keys/${name}.key`))).mode & 0o777, 0o600);
    }
  } finally {
    if (saved !== undefined) process.env.SIHL_INSECURE_TEST_KDF = saved;
  }
});

test('the weakest cost is used only when SIHL_INSECURE_TEST_KDF is exactly 1', () => {
  assert.deepEqual(SIGNING_KDF_COST, { opslimit: 3, memlimit: 256 * 1024 * 1024 });
  assert.equal(keyFileCost(SIGNING_KDF_COST, {}), SIGNING_KDF_COST);
  assert.equal(keyFileCost(DEFAULT_KDF_COST, { SIHL_INSECURE_TEST_KDF: 'yes' }), DEFAULT_KDF_COST);
  assert.equal(keyFileCost(SIGNING_KDF_COST, { SIHL_INSECURE_TEST_KDF: '1' }), INSECURE_TEST_KDF_COST);
});

test('a key file that group or others can read is refused, naming the file and the fix', async () => {
  const dir = await tempDir();
  const env = { SIHL_PASSPHRASE: 'alice only' };
  assert.equal((await sihl(dir, ['keys', 'generate', '--name', 'alice'], env)).code, 0);
  await chmod(join(dir, 'alice.key'), 0o644);
  const r = await sihl(dir, ['image', 'sign', 'nothing.sihl', '--key', 'alice.key'], env);
  assert.equal(r.code, 2);
  assert.match(r.err, /alice\.key: .*group or others.*run chmod 600 \S*alice\.key \[KEY_FILE_EXPOSED\]/);
  assert.doesNotMatch(r.err, /alice only/);

  // In a workspace, too: the root key is refused before its passphrase is tried.
  assert.equal((await sihl(dir, ['init', 'acme'], env)).code, 0);
  const ws = ['--workspace', 'acme'];
  assert.equal(
    (await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ws], env)).code,
    0,
  );
  await chmod(join(dir, 'acme/keys/root-1.key'), 0o640);
  // The second approver completes the delegation, which root signs.
  const add = ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ws];
  const exposed = await sihl(dir, add, env);
  assert.match(exposed.err, /root-1\.key: .*chmod 600 .*KEY_FILE_EXPOSED/);
  await chmod(join(dir, 'acme/keys/root-1.key'), 0o600);
  assert.equal((await sihl(dir, add, env)).code, 0);
});

test('init refuses to lock root under the passphrase of an online key', async () => {
  const dir = await tempDir();
  const same = {
    SIHL_PASSPHRASE_ROOT_1: 'one',
    SIHL_PASSPHRASE_ROLLOUT: 'two',
    SIHL_PASSPHRASE_SNAPSHOT: 'one',
    SIHL_PASSPHRASE_TIMESTAMP: 'two',
  };
  const r = await sihl(dir, ['init', 'acme'], same);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /root-1 would be locked under the same passphrase as the online keys/);
  await assert.rejects(stat(join(dir, 'acme')), 'nothing written');
});

test('each key opens with its own passphrase; the online secret does not open root', async () => {
  const dir = await tempDir();
  const own = {
    SIHL_PASSPHRASE_ROOT_1: 'root',
    SIHL_PASSPHRASE_ROLLOUT: 'roll',
    SIHL_PASSPHRASE_SNAPSHOT: 'snap',
    SIHL_PASSPHRASE_TIMESTAMP: 'time',
  };
  assert.equal((await sihl(dir, ['init', 'acme'], own)).code, 0);
  const ws = ['--workspace', 'acme'];
  const first = await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ws], {
    SIHL_PASSPHRASE_ALICE: 'alice',
  });
  assert.equal(first.code, 0, first.err);
  // The second approver completes the delegation, which root signs.
  const add = ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ws];
  const online = await sihl(dir, add, { SIHL_PASSPHRASE: 'time', SIHL_PASSPHRASE_BOB: 'bob' });
  assert.match(online.err, /root-1\.key: .*PASSPHRASE_WRONG/);
  const added = await sihl(dir, add, { SIHL_PASSPHRASE_ROOT_1: 'root', SIHL_PASSPHRASE_BOB: 'bob' });
  assert.equal(added.code, 0, added.err);
});

test('a passphrase file is taken for its key, and refused when others can read it', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'alice.pass'), 'alice from a file\n', { mode: 0o600 });
  const env = { SIHL_PASSPHRASE_FILE_ALICE: 'alice.pass' };
  assert.equal((await sihl(dir, ['keys', 'generate', '--name', 'alice'], env)).code, 0);
  const key = await readFile(join(dir, 'alice.key'));
  await openSigningKey(new Uint8Array(key), 'alice from a file'); // the line end is not part of it
  await chmod(join(dir, 'alice.pass'), 0o644);
  const r = await sihl(dir, ['keys', 'generate', '--name', 'alice', '--force'], env);
  assert.match(r.err, /alice\.pass: .*chmod 600 .*KEY_FILE_EXPOSED/);
  assert.doesNotMatch(r.err, /alice from a file/);
});

test('keys held for an operation are wiped when it ends, also when it fails', () => {
  const kept = generateSigningKeyPair();
  const failed = generateSigningKeyPair();
  {
    using held = new HeldKeys();
    held.hold([kept]);
    assert.ok(kept.secretKey.some((b) => b !== 0));
  }
  assert.ok(kept.secretKey.every((b) => b === 0));
  assert.throws(() => {
    using held = new HeldKeys();
    held.hold([failed]);
    throw new Error('signing failed');
  }, /signing failed/);
  assert.ok(failed.secretKey.every((b) => b === 0));
});
