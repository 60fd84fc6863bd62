// The publish lock's takeover of a stale lock when several real processes find it stale at once: exactly
// one takes it over and proceeds, every other one is told another publish is running, and the lock in
// the store is the winner's (docs/ROLLOUTS.md §One publication at a time). Each contender is a process
// of its own (test/support/lock-child.ts), all started on one signal, round after round.
// tag: slow (child processes)
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE } from '../../src/publisher/publish-lock.ts';
import { tempDir } from '../helpers.ts';

const CHILD = fileURLToPath(new URL('../support/lock-child.ts', import.meta.url));
const CONTENDERS = 10;
const ROUNDS = 20;

interface Contender {
  readonly pid: number;
  /** Sends a line and resolves with the next line the contender prints. */
  say(line: string): Promise<string>;
}

async function contender(): Promise<Contender> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CHILD], { stdio: 'pipe' });
  child.stderr.pipe(process.stderr);
  after(() => child.kill());
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value);
  assert.equal(await next(), 'ready');
  return {
    pid: child.pid as number,
    say: (line) => {
      child.stdin.write(`${line}\n`);
      return next();
    },
  };
}

/** A lock another host took an hour ago and stopped touching eleven minutes ago: stale for everyone. */
async function staleLock(store: string): Promise<void> {
  const since = new Date(Date.now() - 3_600_000).toISOString();
  const lock = join(store, LOCK_FILE);
  await writeFile(lock, JSON.stringify({ pid: 1, host: 'build-7.example', since, token: 'ab' }));
  const old = new Date(Date.now() - 11 * 60_000);
  await utimes(lock, old, old);
}

test('processes that find one stale lock at once: exactly one takes it over, the others are told another publish is running', async () => {
  const all = await Promise.all(Array.from({ length: CONTENDERS }, () => contender()));
  for (let round = 0; round < ROUNDS; round++) {
    const store = await tempDir();
    await staleLock(store);
    const answers = await Promise.all(all.map((c) => c.say(`go ${store}`)));
    const lockNow = JSON.parse(await readFile(join(store, LOCK_FILE), 'utf8'));
    const winners = all.filter((_, n) => answers[n]?.startsWith('took: '));
    await Promise.all(all.map((c) => c.say('release')));
    assert.equal(winners.length, 1, `round ${round}:\n${answers.join('\n')}`);
    const winner = winners[0] as Contender;
    // It took the stale lock over itself, or found it gone (another contender removed it and lost the
    // race to make the new one).
    assert.match(
      answers[all.indexOf(winner)] as string,
      /^took: (took over the publish lock \(pid 1 on build-7\.example, since \S+\): it was not touched for 11 minutes|a free lock)/,
    );
    assert.equal(lockNow.pid, winner.pid, 'the lock in the store is the winner’s');
    for (const a of answers.filter((x) => !x.startsWith('took: ')))
      assert.match(
        a,
        new RegExp(`^refused another publish is running since \\S+ \\(pid ${winner.pid} on `),
        a,
      );
    // Nothing of the takeover is left beside the store's files once the winner released the lock.
    assert.deepEqual(
      (await readdir(store)).filter((n) => n.startsWith('.publish.lock')),
      [],
    );
  }
});
