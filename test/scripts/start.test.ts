// tag: slow (runs npm start)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

test('npm start updates 20 devices over HTTPS; those that lost power during their install installed again', async () => {
  const script = new URL('../../scripts/start.ts', import.meta.url).pathname;
  // It exits by itself: the server is stopped and nothing is left running.
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 120_000 });
  const workspace = stdout.match(/Workspace: (\S+);/)?.[1];
  assert.ok(workspace, stdout);
  // The story's custody: no root or approver private key in the workspace, only online keys online.
  const privateKeys = async (folder: string) =>
    (await readdir(join(folder, 'keys'))).filter((name) => name.endsWith('.key')).sort();
  const demo = dirname(workspace);
  const keysHere = await privateKeys(workspace);
  const keysOnline = await privateKeys(join(demo, 'online'));
  const away = await Promise.all(['alice', 'bob', 'offline-root'].map((d) => readdir(join(demo, d))));
  await rm(demo, { recursive: true, force: true });
  assert.deepEqual(keysHere, ['rollout.key', 'snapshot.key', 'timestamp.key']);
  assert.deepEqual(keysOnline, ['rollout.key', 'snapshot.key', 'timestamp.key']);
  assert.ok(away[0]?.includes('alice.key') && away[1]?.includes('bob.key'), 'each approver keeps their key');
  assert.ok(away[2]?.includes('root-1.key'), 'the root key is in its own folder');

  assert.match(stdout, /^20 of 20 devices run 7\.28\.0 \(release movehub\/movehub-7\.28\.0\.sihl\)/m);
  const rows = stdout
    .split('\n')
    .filter((line) => /^[0-9a-f]{12}…/.test(line))
    .map((line) => line.split(/\s{2,}/));
  assert.equal(rows.length, 20);
  for (const row of rows) {
    assert.equal(row[2], '7.28.0', row.join(' '));
    assert.equal(row[3], 'installed', row.join(' '));
  }
  const cut = rows.filter((row) => row[5] === 'yes');
  assert.ok(cut.length > 0, 'some devices lost power during their install');
  assert.deepEqual(
    cut.map((row) => row[4]),
    cut.map(() => '2'),
    'each of them installed a second time',
  );
  assert.match(stdout, new RegExp(`${cut.length} lost power during their install and installed again`));
  assert.match(stdout, /The server at https:\/\/127\.0\.0\.1:\d+ is stopped/);
});
