// One publication at a time: the publish lock in the store's folder. A second publish while one runs is
// refused with who holds the lock and what to do (never "pass --force", which publishing does not have);
// a lock whose process is gone, or that nobody touched for ten minutes, is taken over with a notice.
// tag: slow (a child process)
import assert from 'node:assert/strict';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LOCK_FILE } from '../../src/publisher/publish-lock.ts';
import { ok, sihl } from '../support/cli.ts';
import { killAt } from '../support/crash.ts';
import { PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { approvedRelease, WS } from './gate-support.ts';

async function twoApproved() {
  const { cwd } = await approvedRelease();
  await writeFile(join(cwd, 'other.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await ok(cwd, ['release', 'create', 'other.bin', '--model', 'movehub', '--version', '1.1.0', ...WS]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', 'movehub-1.1.0', '--key', key, ...WS]);
  return cwd;
}

const LOCKED =
  /another publish is running since \S+ \(pid (\d+) on (\S+)\); wait for it to end, then run the command again/;

test('two publishes at once in one process: one wins, the other is told another publish is running', async () => {
  const cwd = await twoApproved();
  const results = await Promise.all([
    sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]),
    sihl(cwd, ['release', 'publish', 'movehub-1.1.0', ...WS]),
  ]);
  assert.deepEqual(results.map((r) => r.code).sort(), [0, 2], results.map((r) => r.err).join('\n'));
  const loser = results.find((r) => r.code !== 0);
  assert.match(loser?.err ?? '', LOCKED);
  assert.match(loser?.err ?? '', /\[PUBLISH_LOCKED\]/);
  assert.doesNotMatch(loser?.err ?? '', /--force/);
});

test('a publish while another process publishes is refused naming it; once that process is killed, the lock is taken over', async () => {
  const cwd = await twoApproved();
  let refused = { code: 0, err: '' };
  const killed = await killAt(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS], 1, 'SIGKILL', async () => {
    refused = await sihl(cwd, ['release', 'publish', 'movehub-1.1.0', ...WS]);
  });
  assert.equal(killed.point, 'locked');
  assert.equal(refused.code, 2, refused.err);
  const [, pid, host] = LOCKED.exec(refused.err) ?? [];
  assert.equal(Number(pid), killed.pid, refused.err);
  assert.equal(host, hostname());

  const next = await sihl(cwd, ['release', 'publish', 'movehub-1.1.0', ...WS]);
  assert.equal(next.code, 0, next.err);
  assert.match(
    next.err,
    new RegExp(
      `took over the publish lock \\(pid ${killed.pid} on ${hostname()}, since \\S+\\): its process is gone`,
    ),
  );
  // The lock went with the publication that took it.
  await assert.rejects(stat(join(cwd, 'acme', 'store', LOCK_FILE)), { code: 'ENOENT' });
});

test("another host's lock is honoured while it is touched, and taken over after ten minutes without", async () => {
  const cwd = await twoApproved();
  const lock = join(cwd, 'acme', 'store', LOCK_FILE);
  const since = new Date(Date.now() - 3_600_000).toISOString();
  await writeFile(lock, JSON.stringify({ pid: 1, host: 'build-7.example', since, token: 'ab' }));
  const busy = await sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]);
  assert.equal(busy.code, 2);
  assert.match(
    busy.err,
    new RegExp(`another publish is running since ${since} \\(pid 1 on build-7\\.example\\)`),
  );

  const old = new Date(Date.now() - 11 * 60_000);
  await utimes(lock, old, old);
  const taken = await sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]);
  assert.equal(taken.code, 0, taken.err);
  assert.match(
    taken.err,
    /took over the publish lock \(pid 1 on build-7\.example, since .*\): it was not touched for 11 minutes/,
  );
});
