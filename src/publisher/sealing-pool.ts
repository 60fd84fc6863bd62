// One sealing thread per core, fed batches of device keys; the content key is sent to each thread once.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { wipe } from '../core/crypto/sodium.ts';
import { SihlError } from '../core/errors.ts';
import type { FromSealer, ToSealer } from './envelope-worker.ts';

// The worker file has this module's own extension: .ts run from the sources, .js in the built package.
const SEALER = new URL(
  `./envelope-worker${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`,
  import.meta.url,
);

/** One sealing thread per core; each batch goes to the thread with the fewest batches. */
export class SealingPool {
  readonly #threads: { worker: Worker; jobs: Map<number, (result: Uint8Array | Error) => void> }[] = [];
  #seq = 0;
  #failure: Error | undefined;

  constructor(count: number, contentKey: Uint8Array, binding: Uint8Array) {
    try {
      for (let i = 0; i < count; i++) this.#start(contentKey, binding);
    } catch (error) {
      this.terminate();
      throw error;
    }
  }

  #start(contentKey: Uint8Array, binding: Uint8Array): void {
    const thread = { worker: new Worker(SEALER), jobs: new Map<number, (r: Uint8Array | Error) => void>() };
    thread.worker.on('message', (reply: FromSealer) => {
      const settle = thread.jobs.get(reply.seq);
      thread.jobs.delete(reply.seq);
      settle?.(reply.envelopes);
    });
    thread.worker.on('error', (error) => {
      this.#fail(new SihlError('INTERNAL', `a sealing thread failed: ${error.message}`, { cause: error }));
    });
    thread.worker.on('exit', (code) => {
      if (thread.jobs.size > 0) {
        this.#fail(new SihlError('INTERNAL', `a sealing thread stopped (exit code ${code}) mid-batch`));
      }
    });
    // A worker thread lives in this same process: the key moves between threads, never over IPC.
    // Transferring a copy moves its memory to the thread (no structured-clone copy left behind);
    // the thread wipes it when sealing ends.
    this.#threads.push(thread);
    const copy = contentKey.slice();
    try {
      const message: ToSealer = { type: 'key', contentKey: copy.buffer, binding: binding.slice() };
      thread.worker.postMessage(message, [copy.buffer]);
    } finally {
      wipe(copy); // already detached, unless postMessage threw
    }
  }

  /** Envelopes for the slots of `keys` and `ids` (envelope-worker.ts), in the same order. */
  seal(keys: Uint8Array<ArrayBuffer>, ids: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let thread = this.#threads[0];
    for (const t of this.#threads) if (thread === undefined || t.jobs.size < thread.jobs.size) thread = t;
    if (thread === undefined) return Promise.reject(new SihlError('INTERNAL', 'no sealing thread'));
    const seq = this.#seq++;
    const { worker, jobs } = thread;
    return new Promise((resolve, reject) => {
      jobs.set(seq, (result) => (result instanceof Error ? reject(result) : resolve(result)));
      const message: ToSealer = { type: 'seal', seq, keys, ids };
      worker.postMessage(message, [keys.buffer, ids.buffer]);
    });
  }

  /** Lets every thread wipe its key and exit. */
  async close(): Promise<void> {
    await Promise.all(
      this.#threads.map(async ({ worker }) => {
        if (worker.threadId < 0) return; // already gone
        const exited = once(worker, 'exit');
        worker.postMessage({ type: 'end' } satisfies ToSealer);
        await exited;
      }),
    );
  }

  /** Stops every thread now; batches still out fail. */
  terminate(): void {
    this.#fail(new SihlError('INTERNAL', 'sealing was stopped'));
    for (const { worker } of this.#threads) void worker.terminate();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const { jobs } of this.#threads) {
      for (const settle of jobs.values()) settle(this.#failure);
      jobs.clear();
    }
  }
}
