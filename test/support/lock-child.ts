// One contender for a store's publish lock, in a process of its own, for the lock race test: it waits
// for "go" on stdin, tries takePublishLock(DIR) and prints one line ("took …" or the refusal); a winner
// holds the lock until stdin ends, then releases it. Run as: node test/support/lock-child.ts DIR
import { createInterface } from 'node:readline';
import { takePublishLock } from '../../src/publisher/publish-lock.ts';

const dir = process.argv[2] as string;
const lines = createInterface({ input: process.stdin });
const ended = new Promise((resolve) => lines.once('close', resolve));
process.stdout.write('ready\n');
await new Promise((resolve) => lines.once('line', resolve));
try {
  const lock = await takePublishLock(dir);
  process.stdout.write(`took: ${lock.tookOver ?? 'a free lock (the stale one was gone)'}\n`);
  await ended;
  await lock.release();
} catch (error) {
  process.stdout.write(`refused ${(error as Error).message}\n`);
  process.exitCode = 2;
}
