// The compromised online host (docs/THREATS.md §Keys): the attacker holds its folder and secrets, which
// are the store, the registry, the online rollout, snapshot and timestamp keys with their passphrases and
// the content keys, but no root key and no approver key. The host does its honest work with exactly that
// (publish, halt, advance, resume, timestamp); what it cannot do is change who approves, rotate the root,
// or make a device install or go back to anything the approvers did not sign for it. Each attack runs
// the real CLI or library on a copy of the host's folder, and the real agent and bootloader on a copy of
// a device that polls, through a mirror, what the attacker publishes.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { readPublished, targetEntries } from '../../src/publisher/published.ts';
import { signDelegation } from '../../src/publisher/role-keys.ts';
import { checkRollout } from '../../src/publisher/rollout-publish.ts';
import { changeKeys } from '../../src/publisher/rotation.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { tempDir, testKey } from '../helpers.ts';
import { https } from '../publisher/rollout-support.ts';
import { ok, PASSPHRASE, releaseCreate, sihl } from '../support/cli.ts';
import { serveWorkspace } from '../support/server.ts';
import {
  assertRefusedByAgent,
  type Bench,
  customFor,
  forgeImage,
  forgeRepository,
  makeBench,
  offerImage,
  type Rule,
  serveBytes,
  serveFiles,
  signingKeys,
  type Victim,
  victim,
} from './support.ts';

const shared = makeBench();
const WS = ['--workspace', 'acme'];
const passphrases = async () => PASSPHRASE;

/**
 * A copy of the workspace as the online host holds it: every root and approver private key file gone
 * (those in `keep` stay). Returns the folder that holds `acme`.
 */
async function onlineHost(bench: Bench, keep: readonly string[] = []): Promise<string> {
  const cwd = await tempDir();
  await cp(join(bench.fleet.cwd, 'acme'), join(cwd, 'acme'), { recursive: true });
  await cp(join(bench.fleet.cwd, 'new.bin'), join(cwd, 'new.bin'));
  const { roles } = bench.workspace.config;
  for (const name of [...roles.root.keys, ...roles.targets.keys]) {
    if (!keep.includes(name)) await rm(join(cwd, 'acme', 'keys', `${name}.key`), { force: true });
  }
  return cwd;
}

/** SHA-256 of every file under the workspace's trust/, keys/, store/ and sihl.json, by path. */
async function fingerprint(cwd: string): Promise<Record<string, string>> {
  const dir = join(cwd, 'acme');
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = relative(dir, join(entry.parentPath, entry.name));
    if (!entry.isFile() || !/^(trust|keys|store)\/|^sihl\.json$/.test(path)) continue;
    out[path] = toHex(sha256(await readFile(join(dir, path))));
  }
  return out;
}

/** The mirror answers store paths from `store` (the attacker's copy), as the host's server would. */
function serveStore(store: string): Rule {
  return {
    match: /^\/(metadata|targets|releases)\//,
    async handle(ctx) {
      const bytes = await readFile(join(store, decodeURIComponent(ctx.path))).catch(() => undefined);
      if (!bytes) return void ctx.res.writeHead(404, { 'content-length': 0 }).end();
      await serveBytes(/./, bytes).handle(ctx);
    },
  };
}

/** The victim installs what is offered now, honestly: polls, boots, confirms. */
async function installOffered(v: Victim, version: string): Promise<void> {
  const staged = await v.agent.poll();
  assert.equal(staged.outcome, 'staged', JSON.stringify(staged));
  assert.equal(staged.version, version);
  const boot = await v.sim.boot();
  assert.deepEqual([boot.installed, boot.running.version], [true, version]);
  await v.agent.reportBoot(boot);
  v.agent.confirm();
}

test('the online host alone publishes, halts, advances and resumes (CLI, console and monitor) and refreshes the timestamp; a device installs', async () => {
  const bench = await shared;
  const cwd = await onlineHost(bench, ['alice', 'bob']);
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.30.0', '1'), ...WS]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', 'movehub-7.30.0', '--key', key, ...WS]);
  // The approvals are in; from here on the host holds no root and no approver private key.
  for (const key of ['alice', 'bob']) await rm(join(cwd, 'acme', 'keys', `${key}.key`));
  const keys = await readdir(join(cwd, 'acme', 'keys'));
  assert.deepEqual(keys.filter((k) => k.endsWith('.key')).sort(), [
    'rollout.key',
    'snapshot.key',
    'timestamp.key',
  ]);

  await ok(cwd, ['release', 'publish', 'movehub-7.30.0', '--rollout', '10', ...WS]);
  await ok(cwd, ['rollout', 'halt', 'movehub-7.30.0', ...WS]);
  await ok(cwd, ['rollout', 'resume', 'movehub-7.30.0', ...WS]);
  // The console of `sihl serve` on the host's folder, holding the online passphrases.
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const served = await serveWorkspace(workspace, { console: true, passphrases, checkEveryMs: 0 });
  const http = https(served.url, served.cert);
  after(() => http.close());
  const token = (await readFile(join(cwd, 'acme', 'console', 'operator.token'), 'utf8')).trim();
  for (const action of ['halt', 'resume']) {
    const bearer = { authorization: `Bearer ${token}` };
    const r = await http.request('POST', `/console/api/releases/movehub-7.30.0/${action}`, bearer);
    assert.equal(r.status, 200, `${action}: ${r.body.toString()}`);
    const entry = targetEntries((await readPublished(workspace.storeDir)).targets).at(-1);
    assert.equal(entry?.custom?.halted, action === 'halt' ? true : undefined, action);
  }
  // The automatic monitor's step halts on failures, with the same keys.
  const counts = { offered: 10, reported: 10, succeeded: 0, failed: 10 };
  const auto = await checkRollout(workspace, 'movehub-7.30.0', counts, { passphrases });
  assert.equal(auto.decision.action, 'halt');
  await ok(cwd, ['rollout', 'resume', 'movehub-7.30.0', ...WS]);
  await ok(cwd, ['rollout', 'advance', 'movehub-7.30.0', '--stages', '10,100', ...WS]);
  await ok(cwd, ['timestamp', 'refresh', ...WS]);

  bench.mirror.rules = [serveStore(join(cwd, 'acme', 'store'))];
  const v = await victim(bench);
  await installOffered(v, '7.30.0');
  assert.deepEqual(v.sim.executable(bench.fleet.firmware.length), bench.fleet.firmware);
});

test('the online host cannot add or replace approvers, nor rotate root or any TUF key: nothing in trust/, keys/ or the store changes', async () => {
  const bench = await shared;
  const cwd = await onlineHost(bench);
  const before = await fingerprint(cwd);
  const attempts = [
    ['keys', 'add', '--role', 'targets', '--name', 'mallory'],
    ['keys', 'rotate', '--role', 'targets', '--name', 'alice'],
    ['keys', 'rotate', '--role', 'root'],
    ['keys', 'rotate', '--role', 'rollout'],
    ['keys', 'rotate', '--role', 'timestamp'],
  ];
  for (const args of attempts) {
    const r = await sihl(cwd, [...args, ...WS]);
    assert.notEqual(r.code, 0, `sihl ${args.join(' ')} succeeded`);
    assert.match(r.err, /must be signed by 1 of the current root keys .*0 given: pass --root-key/);
  }
  // The library, called directly with every passphrase the host knows, refuses the same way.
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const options = { passphrase: PASSPHRASE, passphrases };
  await assert.rejects(changeKeys(workspace, { kind: 'add', name: 'mallory' }, options), /current root keys/);
  await assert.rejects(changeKeys(workspace, { kind: 'rotate', role: 'root' }, options), /current root keys/);
  assert.deepEqual(await fingerprint(cwd), before);
});

test('firmware signed by keys the attacker made, under a delegation signed by a root they made, listed with every online key, is refused', async () => {
  const bench = await shared;
  const [evilRoot, a, b] = [testKey('evil-root'), testKey('evil-a'), testKey('evil-b')];
  const delegation = signDelegation({ version: 99, threshold: 2 }, [a.publicKey, b.publicKey], [evilRoot]);
  const image = await forgeImage(bench, { signers: [a, b], version: '9.0.0', delegation });
  const { v, result } = await offerImage(bench, image);
  await assertRefusedByAgent(bench, v, result, 'SIGNATURE_UNKNOWN_KEY');
});

test('downgrade: a device running 7.29.0 offered the approved 7.28.0 as the newest target refuses it, also when the custom fields claim 9.9.9', async () => {
  const bench = await shared;
  bench.mirror.rules = [];
  const v = await victim(bench);
  await installOffered(v, '7.29.0');
  const published = await readPublished(bench.fleet.store);
  const approved = targetEntries(published.targets).find((e) => e.name.endsWith('7.28.0.sihl'));
  assert.ok(approved, 'the approved 7.28.0 is published');

  // Listed truthfully, as the only target: an older version is never fetched.
  let forged = await forgeRepository(bench, { entries: [approved] });
  bench.mirror.rules = serveFiles(forged);
  const seen = bench.mirror.log.length;
  assert.equal((await v.agent.poll()).outcome, 'up-to-date');
  assert.ok(!bench.mirror.log.slice(seen).some((r) => r.path.endsWith('.sihl')), 'no image was fetched');

  // Its custom fields lie about the version: the signed manifest says 7.28.0, below what runs.
  const lying = { ...approved, custom: { ...approved.custom, version: '9.9.9' } };
  forged = await forgeRepository(bench, { entries: [lying], ahead: 2 });
  bench.mirror.rules = serveFiles(forged);
  const result = await v.agent.poll();
  assert.equal(result.error?.code, 'VERSION_ROLLBACK', JSON.stringify(result));
  assert.equal(v.agent.state.lastError, 'VERSION_ROLLBACK', 'the reason is kept in the agent state');
  assert.equal(v.sim.bootState()?.phase, 'idle', 'nothing is marked pending');
  const boot = await v.sim.boot();
  assert.deepEqual([boot.installed, boot.running.version], [false, '7.29.0']);
  assert.deepEqual(v.sim.executable(bench.fleet.firmware.length), bench.fleet.firmware);
});

test('an old approved downgrade (7.28.5, signed by both approvers as a downgrade) offered to a device running 7.29.0 is never installed, whatever version the custom fields claim', async () => {
  const bench = await shared;
  bench.mirror.rules = [];
  const v = await victim(bench);
  await installOffered(v, '7.29.0');
  // The approvers once signed 7.28.5 as a downgrade; the online host still holds it and offers it.
  const image = await forgeImage(bench, {
    signers: await signingKeys(bench, 'alice', 'bob'),
    version: '7.28.5',
    downgrade: true,
  });
  const name = 'movehub/movehub-7.28.5.sihl';
  for (const [claimed, code] of [
    ['7.28.5', undefined],
    ['9.9.9', 'MANIFEST_INCONSISTENT'],
  ] as const) {
    const forged = await forgeRepository(bench, {
      add: [{ name, bytes: image, custom: customFor(claimed, image) }],
      ahead: claimed === '7.28.5' ? 1 : 2,
    });
    bench.mirror.rules = serveFiles(forged);
    const seen = bench.mirror.log.length;
    const result = await v.agent.poll();
    if (code === undefined) {
      // Listed truthfully: a version below the running one is never chosen, nor fetched.
      assert.equal(result.outcome, 'up-to-date', JSON.stringify(result));
      assert.ok(!bench.mirror.log.slice(seen).some((r) => r.path.endsWith('.sihl')), 'no image fetched');
    } else {
      assert.equal(result.error?.code, code, JSON.stringify(result));
    }
    assert.equal(v.sim.bootState()?.phase, 'idle', 'nothing is marked pending');
  }
  const boot = await v.sim.boot();
  assert.deepEqual([boot.installed, boot.running.version], [false, '7.29.0']);
});

test('one person with the workspace, the online secrets and alice: an image approved by alice and a key of their own ships nothing', async () => {
  const bench = await shared;
  const [alice] = await signingKeys(bench, 'alice');
  const mallory = testKey('mallory');
  // Through the CLI: mallory written into sihl.json as an approver by hand; the gate refuses to publish.
  const cwd = await onlineHost(bench, ['alice']);
  const config = JSON.parse(await readFile(join(cwd, 'acme', 'sihl.json'), 'utf8'));
  config.roles.targets.keys.push('mallory');
  await writeFile(join(cwd, 'acme', 'sihl.json'), JSON.stringify(config));
  await ok(cwd, ['keys', 'generate', '--name', 'mallory', '--out', 'acme/keys']);
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '9.0.0', '1'), ...WS]);
  await ok(cwd, ['release', 'approve', 'movehub-9.0.0', '--key', 'alice', ...WS]);
  const before = await fingerprint(cwd);
  const approve = await sihl(cwd, ['release', 'approve', 'movehub-9.0.0', '--key', 'mallory', ...WS]);
  assert.match(approve.err, /is not an approver in the image's delegation .*SIGNATURE_UNKNOWN_KEY/);
  const published = await sihl(cwd, ['release', 'publish', 'movehub-9.0.0', ...WS]);
  assert.notEqual(published.code, 0, published.out);
  assert.deepEqual(await fingerprint(cwd), before, 'nothing is published');

  // Through the library: the image signed by alice and mallory, listed with every online key.
  for (const delegation of [
    undefined,
    signDelegation(
      { version: 99, threshold: 2 },
      [alice?.publicKey as Uint8Array, mallory.publicKey],
      [mallory],
    ),
  ]) {
    const image = await forgeImage(bench, {
      signers: [alice as never, mallory],
      version: '9.0.0',
      ...(delegation ? { delegation } : {}),
    });
    const { v, result } = await offerImage(bench, image);
    await assertRefusedByAgent(bench, v, result, 'SIGNATURE_UNKNOWN_KEY');
  }
});
