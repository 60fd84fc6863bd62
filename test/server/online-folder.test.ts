// The serving side holds only what it needs (docs/SERVER.md §The online folder): `sihl online create`
// copies online keys only; `sihl serve` and `sihl timestamp refresh` run from it, refuse a folder or store
// where a root or approver private key is readable, and serve re-signs the timestamp before it expires.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { serve } from '../../src/cli/commands/serve.ts';
import { refuseOfflineKeys } from '../../src/publisher/online-keys.ts';
import { refreshTimestamp } from '../../src/publisher/timestamp.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { configure, deviceAt, makeFleet, openAgent } from '../device/agent/support.ts';
import { ok, PASSPHRASE, ROOT_DIR, sihl } from '../support/cli.ts';
import { killAt } from '../support/crash.ts';
import { refusesAsync } from '../support/refuses.ts';
import { serveWorkspace } from '../support/server.ts';
import { world } from '../support/world.ts';

/** The online keys' own passphrases: what a server's environment holds (the world locks all with one). */
const ONLINE_ENV = {
  SIHL_PASSPHRASE_ROLLOUT: PASSPHRASE,
  SIHL_PASSPHRASE_TIMESTAMP: PASSPHRASE,
  SIHL_PASSPHRASE_SNAPSHOT: PASSPHRASE,
};
const DAY = 86_400_000;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** The private key files under `dir`, by the name each one says it is for. */
async function privateKeysUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(dir)) {
    const text = await readFile(join(dir, file), 'utf8');
    if (text.includes('"private-key"')) found.push(`${file}: ${JSON.parse(text).kind}`);
    else if (file.endsWith('.key') || file.endsWith('.pkcs11')) found.push(`${file}: not sihl's`);
  }
  return found.sort();
}

async function onlineFolder(cwd: string): Promise<string> {
  const made = JSON.parse(await ok(cwd, ['online', 'create', 'online', '--workspace', 'acme', '--json']));
  assert.equal(made.dir, join(cwd, 'online'));
  return made.dir;
}

test('the online folder holds no root or approver private key, and a device installs through serve run from it', async () => {
  const fleet = await makeFleet();
  const dir = await onlineFolder(fleet.cwd);
  assert.deepEqual(await privateKeysUnder(dir), [
    'keys/rollout.key: signing',
    'keys/snapshot.key: signing',
    'keys/timestamp.key: signing',
    'releases/movehub-7.28.0/content.key: content',
    "tls/server.key: not sihl's",
  ]);
  const files = await filesUnder(dir);
  for (const name of ['root-1', 'alice', 'bob']) assert.ok(files.includes(`keys/${name}.pub`), name);
  assert.ok(files.includes('trust/root.json') && files.includes('trust/delegation.bin'));
  const config = JSON.parse(await readFile(join(dir, 'sihl.json'), 'utf8'));
  assert.equal(config.online, true);
  assert.equal(config.store, fleet.store, 'the same store as the workspace');

  const server = await serve.run({ port: '0', workspace: 'online' }, [], { cwd: fleet.cwd, env: ONLINE_ENV });
  after(() => server.stop());
  assert.equal(server.timestampRefresh, true);
  const device = deviceAt(fleet, 0);
  const certificate = await readFile(server.certificate, 'utf8');
  await configure(fleet, device, { url: `${server.url}/`, certificate } as never);
  const { agent, sim } = await openAgent(device);
  const staged = await agent.poll();
  assert.equal(staged.outcome, 'staged', JSON.stringify(staged));
  assert.equal((await sim.boot()).running.version, '7.28.0');
});

test('serve, timestamp refresh and rollout check refuse a folder with a root or approver key, and a store holding a key file', async () => {
  const fleet = await makeFleet();
  const { cwd } = fleet;
  const refused = async (args: string[], file: RegExp) => {
    const r = await sihl(cwd, args, { SIHL_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code !== 0, true, `${args.join(' ')} ran: ${r.out}`);
    assert.match(r.err, /readable here.*\[KEY_FILE_EXPOSED\]/);
    assert.match(r.err, file);
    assert.match(r.err, /sihl online create/);
  };
  // The release manager's workspace holds approver keys (its root key is offline).
  await refused(
    ['serve', '--port', '0', '--workspace', 'acme'],
    /keys\/alice\.key|keys\/bob\.key|keys\/root-1\.key/,
  );
  await refused(['timestamp', 'refresh', '--workspace', 'acme'], /keys\/(alice|bob|root-1)\.key/);
  // The cron job's rollout check too, as serve and timestamp refresh: not in a workspace either.
  await refused(['rollout', 'check', 'movehub-7.28.0', '--workspace', 'acme'], /keys\/(alice|bob)\.key/);
  // An online folder into which a root key file was copied.
  const dir = await onlineFolder(cwd);
  await copyFile(join(cwd, ROOT_DIR, 'root-1.key'), join(dir, 'keys', 'root-1.key'));
  await refused(['serve', '--port', '0', '--workspace', 'online'], /keys\/root-1\.key/);
  await refused(['timestamp', 'refresh', '--workspace', 'online'], /keys\/root-1\.key/);
  await refused(['rollout', 'check', 'movehub-7.28.0', '--workspace', 'online'], /keys\/root-1\.key/);
  await rm(join(dir, 'keys', 'root-1.key'));
  await ok(cwd, ['rollout', 'check', 'movehub-7.28.0', '--workspace', 'online']);
  // An approver's key file dropped into the store, under a name that does not say what it is.
  await copyFile(join(cwd, 'acme', 'keys', 'alice.key'), join(fleet.store, 'targets', 'notes.json'));
  await refused(['serve', '--port', '0', '--workspace', 'online'], /targets\/notes\.json/);
  await refused(['timestamp', 'refresh', '--workspace', 'online'], /targets\/notes\.json/);
});

test('a workspace whose store is the workspace itself is never served: serve refuses before listening', async () => {
  const fleet = await makeFleet();
  const config = join(fleet.cwd, 'acme', 'sihl.json');
  const parsed = JSON.parse(await readFile(config, 'utf8'));
  for (const store of ['.', '..']) {
    await writeFile(config, JSON.stringify({ ...parsed, store }));
    const r = await sihl(fleet.cwd, ['serve', '--port', '0', '--workspace', 'acme'], ONLINE_ENV);
    assert.equal(r.code !== 0, true, r.out);
    assert.match(r.err, /is the workspace or holds it/);
    assert.doesNotMatch(r.out, /serving/);
  }
  // Past the configuration check (a Workspace made in code), the serving check still finds keys/.
  const past = new Workspace(join(fleet.cwd, 'acme'), { ...parsed, store: '.' });
  await refusesAsync(() => refuseOfflineKeys(past), 'KEY_FILE_EXPOSED', /online folder/);
});

test('online create again brings the folder up to date, keeps its rollout state, and never writes into a workspace', async () => {
  const fleet = await makeFleet();
  const { cwd } = fleet;
  const dir = await onlineFolder(cwd);
  const state = join(dir, 'releases', 'movehub-7.28.0', 'rollout.json');
  await writeFile(state, '{"halted here": true}');
  await writeFile(
    join(dir, 'sihl.json'),
    (await readFile(join(dir, 'sihl.json'), 'utf8')).replace(
      '"delegationVersion": 1',
      '"delegationVersion": 0',
    ),
  );
  const again = JSON.parse(await ok(cwd, ['online', 'create', 'online', '--workspace', 'acme', '--json']));
  assert.equal(again.updated, true);
  assert.deepEqual(again.releases, ['movehub-7.28.0']);
  assert.equal(await readFile(state, 'utf8'), '{"halted here": true}', 'the rollout state there is kept');
  assert.equal(JSON.parse(await readFile(join(dir, 'sihl.json'), 'utf8')).delegationVersion, 1);
  for (const [target, message] of [
    ['acme', /outside the workspace/],
    ['acme/online', /outside the workspace/],
    ['.', /outside the workspace/],
  ] as const) {
    const r = await sihl(cwd, ['online', 'create', target, '--workspace', 'acme']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, message);
  }
  const other = await sihl(cwd, ['online', 'create', 'hub-1', '--workspace', 'acme']);
  assert.match(other.err, /hub-1: the folder holds other files; name a new or empty folder \[FILE_EXISTS\]/);
  await ok(cwd, ['init', 'beta', '--root-dir', 'beta-root']);
  const r = await sihl(cwd, ['online', 'create', 'beta', '--workspace', 'acme']);
  assert.match(r.err, /not an online folder; name another folder \[FILE_EXISTS\]/);
  assert.ok((await filesUnder(join(cwd, 'beta'))).includes('keys/snapshot.key'), 'beta is left as it was');
});

test('an online folder reached through a link into the workspace is refused', async () => {
  const { cwd } = await world().build();
  const inside = join(cwd, 'acme', 'served');
  await mkdir(inside);
  // One link to a folder in the workspace, one to a place in it that does not exist yet.
  await symlink(inside, join(cwd, 'online'));
  await symlink(join(cwd, 'acme', 'later'), join(cwd, 'online-later'));
  for (const target of ['online', 'online-later']) {
    const r = await sihl(cwd, ['online', 'create', target, '--workspace', 'acme']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /must lie outside the workspace/);
  }
  assert.deepEqual(await readdir(inside), [], 'nothing was written into the workspace');
  assert.deepEqual(
    (await readdir(join(cwd, 'acme'))).filter((n) => n === 'later'),
    [],
    'nor made in it',
  );
});

test('timestamp refresh runs from the online folder with the online keys only', async () => {
  const fleet = await makeFleet();
  await onlineFolder(fleet.cwd);
  const r = await sihl(fleet.cwd, ['timestamp', 'refresh', '--workspace', 'online', '--json'], ONLINE_ENV);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).version, 2);
  // Without the online keys' passphrases, serve says that it leaves the refresh to a job.
  const server = await serve.run({ port: '0', workspace: 'online' }, [], { cwd: fleet.cwd, env: {} });
  after(() => server.stop());
  assert.equal(server.timestampRefresh, false);
  assert.match(serve.render(server), /not re-signed here: set SIHL_PASSPHRASE_TIMESTAMP/);
});

test('serve re-signs the timestamp before it expires: a device still updates after the first one expired', async () => {
  const fleet = await makeFleet();
  const dir = await onlineFolder(fleet.cwd);
  const online = await Workspace.open(dir);
  // The first timestamp was signed 25 hours ago: it expired an hour ago.
  let offset = -25 * 3_600_000;
  const now = () => new Date(Date.now() + offset);
  await refreshTimestamp(online, async () => PASSPHRASE, { now });
  const refreshed: { version: number; expires: string }[] = [];
  const errors: unknown[] = [];
  // With the console: refreshes go through its queue, after the monitor's halts and advances.
  const server = await serveWorkspace(online, {
    console: true,
    now,
    timestamp: {
      passphrases: async () => PASSPHRASE,
      everyMs: 20,
      onRefresh: (r) => refreshed.push(r),
      onError: (e) => errors.push(e),
    },
  });
  assert.equal(refreshed.length, 0, 'fresh by the server clock at start: nothing to do');
  const device = deviceAt(fleet, 0);
  await configure(fleet, device, { url: `${server.url}/`, certificate: server.cert } as never);
  const { agent, sim } = await openAgent(device);
  const stale = await agent.poll();
  assert.equal(stale.error?.code, 'TUF_METADATA_EXPIRED', 'without a refresh the device stops');

  // The server's clock reaches today: the timestamp is past half its life, and the next look re-signs it.
  offset = 0;
  for (let i = 0; refreshed.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(errors, []);
  assert.equal(refreshed.length, 1, 'refreshed once, and logged');
  assert.equal(refreshed[0]?.version, 3);
  assert.ok(new Date(refreshed[0]?.expires as string).getTime() > Date.now() + DAY - 60_000);
  const staged = await agent.poll();
  assert.equal(staged.outcome, 'staged', JSON.stringify(staged));
  assert.equal((await sim.boot()).running.version, '7.28.0');
});

test('a refresh that fails is reported and tried again; the server keeps serving', async () => {
  const fleet = await makeFleet();
  const online = await Workspace.open(await onlineFolder(fleet.cwd));
  const errors: unknown[] = [];
  let wrong = true;
  const server = await serveWorkspace(online, {
    now: () => new Date(Date.now() + DAY),
    timestamp: {
      passphrases: async () => (wrong ? 'not the passphrase' : PASSPHRASE),
      everyMs: 20,
      onError: (e) => errors.push(e),
    },
  }).catch((error: unknown) => error);
  assert.equal((server as { code?: string }).code, 'PASSPHRASE_WRONG', 'a wrong passphrase stops the start');
  wrong = false;
  let calls = 0;
  const refreshed: number[] = [];
  const served = await serveWorkspace(online, {
    now: () => new Date(Date.now() + DAY),
    timestamp: {
      // Opens at start; the first refresh finds the key unreadable, the next one works.
      passphrases: async () => (calls++ === 2 ? 'not the passphrase' : PASSPHRASE),
      everyMs: 20,
      onRefresh: (r) => refreshed.push(r.version),
      onError: (e) => errors.push(e),
    },
  });
  for (let i = 0; refreshed.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((errors[0] as { code?: string }).code, 'PASSPHRASE_WRONG');
  assert.deepEqual(refreshed, [2], 'the next look re-signed it');
  assert.ok(served.port > 0);
});

test('halt, resume and advance run from the online folder with only online keys', async () => {
  const fleet = await makeFleet({ rollout: 10 });
  await onlineFolder(fleet.cwd);
  const env = { ...ONLINE_ENV, SIHL_PASSPHRASE_MOVEHUB_7_28_0_CONTENT_KEY: PASSPHRASE };
  const rollout = async (verb: string) => {
    const args = ['rollout', verb, 'movehub-7.28.0', '--workspace', 'online', '--json'];
    const r = await sihl(fleet.cwd, args, env);
    assert.equal(r.code, 0, `rollout ${verb}: ${r.err}${r.out}`);
    return JSON.parse(r.out);
  };
  assert.equal((await rollout('halt')).status, 'halted');
  assert.equal((await rollout('resume')).status, 'active');
  assert.equal((await rollout('advance')).percent, 50);
});

test('the online folder and the workspace share one publish lock: a timestamp refresh while the workspace halts is refused and removes nothing of it', async () => {
  const fleet = await makeFleet();
  const { cwd } = fleet;
  await onlineFolder(cwd);
  const before = await filesUnder(fleet.store);
  let refresh = { code: 0, out: '', err: '' };
  let during: string[] = [];
  // The release manager halts from the workspace; it stops once its new targets metadata is written.
  const halt = ['rollout', 'halt', 'movehub-7.28.0', '--workspace', 'acme'];
  const stopped = await killAt(cwd, halt, 2, 'SIGKILL', async () => {
    during = await filesUnder(fleet.store);
    refresh = await sihl(cwd, ['timestamp', 'refresh', '--workspace', 'online'], ONLINE_ENV);
  });
  assert.match(stopped.point ?? '', /^wrote metadata\/\d+\.targets\.json$/);
  const written = during.filter((f) => !before.includes(f));
  assert.ok(
    written.some((f) => /^metadata\/\d+\.targets\.json$/.test(f)),
    written.join(', '),
  );
  assert.equal(refresh.code, 2, `the refresh ran beside the halt: ${refresh.out}`);
  assert.match(refresh.err, new RegExp(`another publish is running since \\S+ \\(pid ${stopped.pid} on `));
  const after = await filesUnder(fleet.store);
  for (const file of written) assert.ok(after.includes(file), `${file} was removed under the halt`);
  // The halt killed there is rolled back by the next command, from either folder.
  const next = await sihl(cwd, ['timestamp', 'refresh', '--workspace', 'online'], ONLINE_ENV);
  assert.equal(next.code, 0, next.err);
  assert.match(next.err, /its process is gone[\s\S]*an earlier publication was interrupted/);
});

test('serve and timestamp refresh refuse a root or approver key anywhere in the online folder: under another name, in another folder, or as an online key file', async () => {
  const fleet = await makeFleet();
  const { cwd } = fleet;
  const dir = await onlineFolder(cwd);
  const keys = join(cwd, 'acme', 'keys');
  const placed = [
    [join(keys, 'alice.key'), join(dir, 'trust', 'alice.key')],
    [join(keys, 'bob.key'), join(dir, 'releases', 'movehub-7.28.0', 'notes.json')],
    [join(cwd, ROOT_DIR, 'root-1.key'), join(dir, 'keys', 'rollout.key')],
  ] as const;
  const rollout = await readFile(join(dir, 'keys', 'rollout.key'));
  for (const [from, to] of placed) {
    await copyFile(from, to);
    for (const args of [
      ['timestamp', 'refresh', '--workspace', 'online'],
      ['serve', '--port', '0', '--workspace', 'online'],
    ]) {
      const r = await sihl(cwd, args, ONLINE_ENV);
      assert.notEqual(r.code, 0, `${args.join(' ')} ran with ${relative(dir, to)}: ${r.out}`);
      assert.match(r.err, /KEY_FILE_EXPOSED/);
      assert.ok(r.err.includes(relative(cwd, to)) || r.err.includes(to), r.err);
    }
    if (to.endsWith('rollout.key')) await writeFile(to, rollout, { mode: 0o600 });
    else await rm(to);
  }
  const clean = await sihl(cwd, ['timestamp', 'refresh', '--workspace', 'online'], ONLINE_ENV);
  assert.equal(clean.code, 0, clean.err);
});
