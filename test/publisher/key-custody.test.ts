// Key files at rest: root and approver keys cost an attacker MODERATE Argon2id per guess, key files others
// can read are refused, every key has its own passphrase, and unlocked keys are wiped after use.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
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
import { changes, fileHashes } from '../bad-input/support.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ok, ROOT_DIR, ROOT_KEY, sihl } from '../support/cli.ts';
import { initOffline, rootDirOf } from '../support/offline-root.ts';
import { WS, world } from '../support/world.ts';

async function kdfOf(path: string): Promise<{ opslimit: number; memlimit: number }> {
  return JSON.parse(await readFile(path, 'utf8')).kdf;
}

test('root keys are locked at MODERATE cost and the online keys at INTERACTIVE, all mode 0600', async () => {
  const saved = process.env.SIHL_INSECURE_TEST_KDF;
  delete process.env.SIHL_INSECURE_TEST_KDF; // the real costs, once (about two seconds)
  try {
    const dir = join(await tempDir(), 'acme');
    await initOffline(dir, { passphrase: 'shared for this test only' });
    const root = await kdfOf(join(rootDirOf(dir), 'root-1.key'));
    assert.deepEqual([root.opslimit, root.memlimit], [3, 256 * 1024 * 1024]);
    for (const online of ['rollout', 'snapshot', 'timestamp']) {
      const kdf = await kdfOf(join(dir, `keys/${online}.key`));
      assert.deepEqual([kdf.opslimit, kdf.memlimit], [2, 64 * 1024 * 1024]);
    }
    for (const path of ['rollout', 'snapshot', 'timestamp'].map((n) => join(dir, `keys/${n}.key`))) {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    }
    assert.equal((await stat(join(rootDirOf(dir), 'root-1.key'))).mode & 0o777, 0o600);
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

  // A root key handed to a root operation, too: it is refused before its passphrase is tried.
  assert.equal((await sihl(dir, [...INIT], env)).code, 0);
  const ws = ['--workspace', 'acme'];
  assert.equal(
    (await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ws], env)).code,
    0,
  );
  await chmod(join(dir, ROOT_DIR, 'root-1.key'), 0o640);
  // The second approver completes the delegation, which root signs.
  const add = ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, ...ws];
  const exposed = await sihl(dir, add, env);
  assert.match(exposed.err, /root-1\.key: .*chmod 600 .*KEY_FILE_EXPOSED/);
  await chmod(join(dir, ROOT_DIR, 'root-1.key'), 0o600);
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
  const r = await sihl(dir, [...INIT], same);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /root-1 would be locked under the same passphrase as the online keys/);
  await assert.rejects(stat(join(dir, 'acme')), 'nothing written');
  await assert.rejects(stat(join(dir, ROOT_DIR)), 'nothing written');
});

test('each key opens with its own passphrase; the online secret does not open root', async () => {
  const dir = await tempDir();
  const own = {
    SIHL_PASSPHRASE_ROOT_1: 'root',
    SIHL_PASSPHRASE_ROLLOUT: 'roll',
    SIHL_PASSPHRASE_SNAPSHOT: 'snap',
    SIHL_PASSPHRASE_TIMESTAMP: 'time',
  };
  assert.equal((await sihl(dir, [...INIT], own)).code, 0);
  const ws = ['--workspace', 'acme'];
  const first = await sihl(dir, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ws], {
    SIHL_PASSPHRASE_ALICE: 'alice',
  });
  assert.equal(first.code, 0, first.err);
  // The second approver completes the delegation, which root signs.
  const add = ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, ...ws];
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

test('init writes root private keys only into --root-dir outside the workspace, and refuses one inside it', async () => {
  const dir = await tempDir();
  const env = { SIHL_PASSPHRASE: 'shared for this test only' };
  const none = await sihl(dir, ['init', 'acme'], env);
  assert.equal(none.code, 2);
  assert.match(
    none.err,
    /root private keys are kept outside the workspace: pass --root-dir DIR .*or --root-key pkcs11:/,
  );
  await mkdir(join(dir, 'elsewhere'));
  await symlink(join(dir, 'acme'), join(dir, 'elsewhere', 'link'));
  for (const inside of ['acme', 'acme/keys', 'acme/offline', 'elsewhere/link/usb']) {
    const r = await sihl(dir, ['init', 'acme', '--root-dir', inside], env);
    assert.match(r.err, /root private keys may not be kept in the workspace .*KEY_FILE_MISPLACED/, inside);
    await assert.rejects(stat(join(dir, 'acme')), 'nothing written');
  }
  const made = ['init', 'acme', '--root-keys', '3', '--root-threshold', '2', '--root-dir', 'usb'];
  assert.equal((await sihl(dir, made, env)).code, 0);
  const privateInWorkspace = (await readdir(join(dir, 'acme/keys'))).filter((f) => /\.(key|pkcs11)$/.test(f));
  assert.deepEqual(privateInWorkspace.sort(), ['rollout.key', 'snapshot.key', 'timestamp.key']);
  assert.deepEqual((await readdir(join(dir, 'usb'))).sort(), [
    ...['root-1.key', 'root-1.pub', 'root-2.key', 'root-2.pub', 'root-3.key', 'root-3.pub'],
  ]);
  for (const n of [1, 2, 3]) {
    const there = await readFile(join(dir, `usb/root-${n}.pub`), 'utf8');
    assert.equal(await readFile(join(dir, `acme/keys/root-${n}.pub`), 'utf8'), there, 'the public half');
  }
  // One folder per root key, or one for all: nothing in between.
  const two = await sihl(dir, ['init', 'b', '--root-keys', '3', '--root-dir', 'x', '--root-dir', 'y'], env);
  assert.match(two.err, /give one --root-dir for all 3 root keys, or one for each/);
});

test('a root private key in the workspace is refused wherever it sits, naming the file and where it belongs', async () => {
  const { cwd } = await world().build();
  const add = ['keys', 'add', '--role', 'targets', '--name', 'carol', ...WS];
  await copyFile(join(cwd, ROOT_DIR, 'root-1.key'), join(cwd, 'acme/keys/backup.key'));
  const copied = await sihl(cwd, [...add, ...ROOT_KEY]);
  assert.match(
    copied.err,
    /acme\/keys\/backup\.key: a root private key does not belong in the workspace: move it to offline storage .*KEY_FILE_MISPLACED/,
  );
  await rm(join(cwd, 'acme/keys/backup.key'));
  await copyFile(join(cwd, ROOT_DIR, 'root-1.key'), join(cwd, 'acme/root-1.key'), constants.COPYFILE_EXCL);
  const handed = await sihl(cwd, [...add, '--root-key', 'acme/root-1.key']);
  assert.match(
    handed.err,
    /acme\/root-1\.key: a root private key does not belong in the workspace.*KEY_FILE_MISPLACED/,
  );
  await rm(join(cwd, 'acme/root-1.key'));
  assert.equal((await sihl(cwd, [...add, ...ROOT_KEY])).code, 0);
});

test('with the workspace and every online and approver secret but no root key, approvers and root stay as they are', async () => {
  const { cwd } = await world().withDevicesRunning('7.27.0', 1).withReleasePublished('7.28.0').build();
  await rm(join(cwd, ROOT_DIR), { recursive: true }); // the root key is offline, not on this machine
  const before = await fileHashes(join(cwd, 'acme'));
  const said = async (args: string[]) => {
    const r = await sihl(cwd, [...args, ...WS]); // SIHL_PASSPHRASE opens snapshot, timestamp, alice and bob
    assert.notEqual(r.code, 0, args.join(' '));
    return r.err;
  };
  const noRoot =
    /must be signed by 1 of the current root keys \(root-1 [0-9a-f]{16}…\); 0 given: pass --root-key/;
  assert.match(await said(['keys', 'add', '--role', 'targets', '--name', 'mallory']), noRoot);
  assert.match(await said(['keys', 'rotate', '--role', 'targets', '--name', 'alice']), noRoot);
  assert.match(await said(['keys', 'rotate', '--role', 'root', '--root-dir', '../evil']), noRoot);
  assert.match(await said(['keys', 'rotate', '--role', 'timestamp']), noRoot);
  // A root key of their own making is not one of the workspace's.
  await mkdir(join(cwd, 'evil'));
  await ok(cwd, ['keys', 'generate', '--name', 'root-1', '--out', 'evil']);
  const own = await said([
    'keys',
    'add',
    '--role',
    'targets',
    '--name',
    'mallory',
    '--root-key',
    'evil/root-1.key',
  ]);
  assert.match(
    own,
    /the key [0-9a-f]{16}… is not a root key of this workspace \(root-1 [0-9a-f]{16}…\) \[SIGNATURE_UNKNOWN_KEY\]/,
  );
  // Nor does a ceremony get them anywhere: their key cannot sign it and it cannot be applied unsigned.
  const plan = ['keys', 'add', '--role', 'targets', '--name', 'mallory', '--ceremony', 'mallory.json'];
  assert.equal((await sihl(cwd, [...plan, ...WS])).code, 0);
  const signed = await sihl(cwd, ['ceremony', 'sign', 'mallory.json', '--root-key', 'evil/root-1.key']);
  assert.match(signed.err, /not one of the root keys the ceremony names \(root-1\)/);
  assert.match(
    await said(['ceremony', 'apply', 'mallory.json']),
    /not signed by enough root keys yet.*SIGNATURE_THRESHOLD/,
  );
  const changed = changes(before, await fileHashes(join(cwd, 'acme')));
  assert.deepEqual(
    changed.filter((f) => !f.startsWith('+ keys/pending/')),
    [],
    'nothing changed but the planned key waiting in keys/pending',
  );
});
