// The publish lock's takeover of a stale lock when several real processes find it stale at once: exactly
// one takes it over and proceeds, every other one is told another publish is running, and the lock in
// the store is the winner's (docs/WORKSPACE.md §Publishing). Each contender is a process of its own
// (test/support/lock-child.ts), started together on one signal.
// tag: slow (child processes)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE } from '../../src/publisher/publish-lock.ts';
import { tempDir } from '../helpers.ts';

const CHILD = fileURLToPath(new URL('../support/lock-child.ts', import.meta.url));
const CONTENDERS = 10;
const ROUNDS = 6;

interface Contender {
  readonly pid: number;
  readonly answer: Promise<string>;
  go(): void;
  release(): Promise<void>;
}

function contender(dir: string): Promise<Contender> {
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let ready: () => void;
  let answered: (line: string) => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const answer = new Promise<string>((resolve) => {
    answered = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.startsWith('ready\n')) ready();
    const line = out.split('\n')[1];
    if (line !== undefined && out.split('\n').length > 2) answered(line);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return started.then(() => ({
    pid: child.pid as number,
    answer,
    go: () => child.stdin.write('go\n'),
    release: async () => {
      child.stdin.end();
      await exited;
    },
  }));
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
  for (let round = 0; round < ROUNDS; round++) {
    const store = await tempDir();
    await staleLock(store);
    const all = await Promise.all(Array.from({ length: CONTENDERS }, () => contender(store)));
    for (const c of all) c.go();
    const answers = await Promise.all(all.map((c) => c.answer));
    const winners = answers.filter((a) => a.startsWith('took'));
    const lockNow = JSON.parse(await readFile(join(store, LOCK_FILE), 'utf8'));
    await Promise.all(all.map((c) => c.release()));
    assert.equal(winners.length, 1, `round ${round}:\n${answers.join('\n')}`);
    // The winner took the stale lock over itself, or found it gone (another contender removed it and
    // lost the race to make the new one).
    assert.match(
      winners[0] as string,
      /^took: (took over the publish lock \(pid 1 on build-7\.example, since |a free lock)/,
    );
    const winner = all[answers.indexOf(winners[0] as string)] as Contender;
    assert.equal(lockNow.pid, winner.pid, 'the lock in the store is the winner’s');
    for (const a of answers.filter((x) => !x.startsWith('took')))
      assert.match(a, new RegExp(`another publish is running since \\S+ \\(pid ${winner.pid} on `), a);
    // Nothing of the takeover is left beside the store's files once the winner released the lock.
    assert.deepEqual(
      (await readdir(store)).filter((n) => n.startsWith('.publish.lock')),
      [],
    );
  }
});
