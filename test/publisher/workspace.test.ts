// tag: slow (key files locked with Argon2id, many of them)
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { keyIdOf } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { decodeSignedDelegation, verifyDelegation } from '../../src/core/format/delegation.ts';
import { decodeRootFile, openSigningKey } from '../../src/core/keys.ts';
import { publicKeyOf } from '../../src/publisher/role-keys.ts';
import { addApprover, initWorkspace } from '../../src/publisher/setup.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ROOT_KEY } from '../support/cli.ts';
import { initOffline, rootDirOf, rootKeysOf } from '../support/offline-root.ts';

const PASS = 'workspace passphrase';
const passphrases = async () => PASS;

test('init makes a workspace with locked root, snapshot and timestamp keys and the trust file devices pin', async () => {
  const dir = join(await tempDir(), 'acme');
  const workspace = await initOffline(dir, { rootKeys: 3, rootThreshold: 2, passphrase: PASS });
  assert.deepEqual(workspace.config.roles.root, { threshold: 2, keys: ['root-1', 'root-2', 'root-3'] });
  assert.equal(workspace.config.roles.targets.threshold, 2, 'two persons sign off by default');
  const trust = decodeRootFile(new Uint8Array(await readFile(workspace.rootTrustPath)));
  assert.equal(trust.threshold, 2);
  assert.deepEqual(
    trust.keys.map((k) => toHex(k)),
    await Promise.all(
      ['root-1', 'root-2', 'root-3'].map(async (n) => toHex(await publicKeyOf(workspace, n))),
    ),
  );
  for (const name of ['root-1', 'root-2', 'root-3']) {
    await assert.rejects(
      readFile(workspace.keyPath(name, 'key')),
      { code: 'ENOENT' },
      'no root key in the workspace',
    );
  }
  const files = ['root-1', 'rollout', 'snapshot', 'timestamp'].map((name) =>
    name.startsWith('root') ? join(rootDirOf(dir), `${name}.key`) : workspace.keyPath(name, 'key'),
  );
  for (const path of files) {
    const file = new Uint8Array(await readFile(path));
    await assert.rejects(openSigningKey(file, 'not the passphrase'), { code: 'PASSPHRASE_WRONG' });
    assert.ok((await openSigningKey(file, PASS)).publicKey.length === 32);
  }
  await assert.rejects(initWorkspace(dir, { passphrase: PASS, rootDirs: [`${dir}-other`] }), {
    code: 'FILE_EXISTS',
  });
});

test('approvers get keys of their own, and root signs them into a new delegation version each time', async () => {
  let workspace = await initOffline(join(await tempDir(), 'acme'), { passphrase: PASS });
  const rootKeys = await rootKeysOf(workspace, PASS);
  const alice = await addApprover(workspace, 'alice', PASS, passphrases);
  assert.equal(alice.delegationVersion, null, 'one approver is not enough for a delegation');
  const bob = await addApprover(alice.workspace, 'bob', PASS, passphrases, { rootKeys });
  assert.equal(bob.delegationVersion, 1);
  workspace = bob.workspace;
  const root = decodeRootFile(new Uint8Array(await readFile(workspace.rootTrustPath)));
  const signed = decodeSignedDelegation(new Uint8Array(await readFile(workspace.delegationPath)));
  const delegation = verifyDelegation(signed, root, 1);
  assert.equal(delegation.threshold, 2);
  assert.deepEqual(
    delegation.keys.map((k) => toHex(keyIdOf(k))).sort(),
    [alice.publicKey, bob.publicKey].map((k) => toHex(keyIdOf(k))).sort(),
  );
  await assert.rejects(addApprover(workspace, 'carol', PASS, passphrases), {
    code: 'USAGE',
    message: /signed by 1 of the current root keys .*0 given: pass --root-key/,
  });
  const carol = await addApprover(workspace, 'carol', PASS, passphrases, { rootKeys });
  assert.equal(carol.delegationVersion, 2);
  await assert.rejects(addApprover(carol.workspace, 'carol', PASS, passphrases, { rootKeys }), {
    code: 'USAGE',
  });
  await assert.rejects(addApprover(carol.workspace, 'root-1', PASS, passphrases, { rootKeys }), {
    code: 'USAGE',
  });
});

test('a broken sihl.json is refused with every problem named at once', async () => {
  const dir = join(await tempDir(), 'acme');
  const workspace = await initOffline(dir, { passphrase: PASS });
  const config = JSON.parse(await readFile(workspace.configPath, 'utf8'));
  config.roles.root.threshold = 5;
  config.store = '';
  config.delegationVersion = -1;
  await writeFile(workspace.configPath, JSON.stringify(config));
  await assert.rejects(Workspace.open(dir), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, /roles\.root: threshold 5 but only 1 key/);
    assert.match(error.message, /"store" must be a path/);
    assert.match(error.message, /"delegationVersion"/);
    return true;
  });
  await writeFile(workspace.configPath, '{ not json');
  await assert.rejects(Workspace.open(dir), { code: 'USAGE', message: /not valid JSON/ });
});

test('a store that is the workspace, holds it, or holds keys/ or sihl.json is refused', async () => {
  const parent = await tempDir();
  const dir = join(parent, 'acme');
  const workspace = await initOffline(dir, { passphrase: PASS });
  const config = JSON.parse(await readFile(workspace.configPath, 'utf8'));
  for (const [field, value] of [
    ['store', '.'],
    ['store', './'],
    ['store', dir],
    ['store', '..'],
    ['store', parent],
    ['staging', '.'],
  ] as const) {
    await writeFile(workspace.configPath, JSON.stringify({ ...config, [field]: value }));
    await assert.rejects(Workspace.open(dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'USAGE', `${field}: ${value}`);
      assert.match(error.message, new RegExp(`"${field}": .* is the workspace or holds it`));
      return true;
    });
  }
  // A folder of its own that holds a workspace's keys/ or sihl.json is refused as well.
  await writeFile(workspace.configPath, JSON.stringify({ ...config, store: 'other' }));
  await mkdir(join(dir, 'other', 'keys'), { recursive: true });
  await assert.rejects(Workspace.open(dir), { code: 'USAGE', message: /the store holds keys/ });
  await rm(join(dir, 'other', 'keys'), { recursive: true });
  await writeFile(join(dir, 'other', 'sihl.json'), '{}');
  await assert.rejects(Workspace.open(dir), { code: 'USAGE', message: /the store holds sihl\.json/ });
  await rm(join(dir, 'other', 'sihl.json'));
  assert.equal((await Workspace.open(dir)).storeDir, join(dir, 'other'));
});

test('the CLI makes a workspace, adds two approvers and lists the keys', async () => {
  const cwd = await tempDir();
  const env = { SIHL_PASSPHRASE: PASS };
  const out: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
  assert.equal(await main([...INIT], io, { cwd, env }), 0);
  for (const name of ['alice', 'bob']) {
    assert.equal(
      await main(
        ['keys', 'add', '--role', 'targets', '--name', name, ...ROOT_KEY, '--workspace', 'acme'],
        io,
        {
          cwd,
          env,
        },
      ),
      0,
    );
  }
  out.length = 0;
  assert.equal(
    await main(['keys', 'list', '--json'], io, { cwd, env: { ...env, SIHL_WORKSPACE: join(cwd, 'acme') } }),
    0,
  );
  const listing = JSON.parse(out.join(''));
  assert.equal(listing.delegationVersion, 1);
  const targets = listing.roles.find((r: { role: string }) => r.role === 'targets');
  assert.deepEqual(
    targets.keys.map((k: { name: string }) => k.name),
    ['alice', 'bob'],
  );
  out.length = 0;
  assert.equal(
    await main(['keys', 'add', '--role', 'root', '--name', 'x', '--workspace', 'acme'], io, { cwd, env }),
    2,
  );
  assert.match(out.join(''), /--role must be targets/);
  out.length = 0;
  assert.equal(await main(['keys', 'list', '--workspace', 'nowhere'], io, { cwd, env }), 2);
  assert.match(out.join(''), /nowhere\/sihl\.json: no sihl workspace here/);
});
