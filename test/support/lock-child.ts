// A contender for a store's publish lock, in a process of its own, for the lock race test. For each line
// "go DIR" on stdin it tries takePublishLock(DIR) and prints one line ("took: …" or "refused …"); on
// "release" a winner releases its lock and prints "released". Started once, it races many rounds.
// Run as: node test/support/lock-child.ts
import { createInterface } from 'node:readline';
import { type PublishLock, takePublishLock } from '../../src/publisher/publish-lock.ts';

let held: PublishLock | undefined;
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('go ')) {
    try {
      held = await takePublishLock(line.slice(3));
      process.stdout.write(`took: ${held.tookOver ?? 'a free lock (the stale one was gone)'}\n`);
    } catch (error) {
      process.stdout.write(`refused ${(error as Error).message}\n`);
    }
  } else if (line === 'release') {
    await held?.release();
    process.stdout.write(held ? 'released\n' : 'idle\n');
    held = undefined;
  }
}
