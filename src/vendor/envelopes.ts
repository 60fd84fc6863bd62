// Key envelopes for a whole fleet, as envelope tables: a release's envelopes are the files
// envelopes/{part}.bin, part = floor(idx / 65536), with device idx's 184-byte envelope at byte
// (idx % 65536) × 184. A device fetches its own with one HTTP range request of exactly 184 bytes; a
// release for 1,000,000 devices is 16 files of at most 11.5 MiB. A slot without an envelope (revoked,
// another model, outside the rollout) is 184 zero bytes, which decodeEnvelope refuses (bad magic).
// Sealing runs on every core in worker threads; memory holds a bounded number of batches.
import { once } from 'node:events';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { BOX_PUBLIC_KEY_BYTES, checkBoxPublicKey } from '../core/crypto/box.ts';
import { DIGEST_BYTES } from '../core/crypto/hash.ts';
import { wipe } from '../core/crypto/sodium.ts';
import { STREAM_KEY_BYTES } from '../core/crypto/stream.ts';
import { naming, SihlError } from '../core/errors.ts';
import { ENVELOPE_BYTES } from '../core/format/envelope.ts';
import { checkModel } from '../core/format/manifest.ts';
import { temporaryPathFor } from '../core/fs.ts';
import type { FromSealer, ToSealer } from './envelope-worker.ts';
import type { Registry } from './registry.ts';

export const ENVELOPES_PER_PART = 65_536;
export const ENVELOPE_FOLDER = 'envelopes';
/** Devices per batch handed to a sealing thread: about 0.1 s of work, 377 KiB of envelopes. */
export const SEAL_BATCH = 2_048;
/** Batches in flight per thread: one being sealed, one waiting, so no thread idles between batches. */
const BATCHES_PER_THREAD = 2;
/**
 * Registry rows read at a time while publishing. Small on purpose: rows still referenced across a wait
 * get promoted, and V8 answers by growing the young generation, which shows in the RSS (10,000-row reads
 * peaked at about 350 MiB for 1,000,000 devices, 512-row reads at about 210 MiB, at the same speed).
 */
export const READ_BATCH = 512;

export interface EnvelopeLocation {
  /** Path of the part file inside the release folder, with forward slashes (also its URL path). */
  readonly file: string;
  readonly offset: number;
  readonly length: number;
}

/** Where device `idx` finds its envelope: fetch it with `Range: bytes=offset-(offset+length-1)`. */
export function envelopeLocation(idx: number): EnvelopeLocation {
  if (!Number.isSafeInteger(idx) || idx < 0) {
    throw new SihlError('USAGE', `a device index is a whole number from 0, not ${idx}`);
  }
  const part = Math.floor(idx / ENVELOPES_PER_PART);
  return {
    file: `${ENVELOPE_FOLDER}/${part}.bin`,
    offset: (idx % ENVELOPES_PER_PART) * ENVELOPE_BYTES,
    length: ENVELOPE_BYTES,
  };
}

/** The HTTP Range header value that fetches device idx's envelope. */
export function envelopeRange(idx: number): string {
  const { offset, length } = envelopeLocation(idx);
  return `bytes=${offset}-${offset + length - 1}`;
}

export interface PublishOptions {
  /** Only what publishing reads: a registry, or anything that walks one the same way. */
  readonly registry: Pick<Registry, 'count' | 'eligible'>;
  readonly model: string;
  readonly contentKey: Uint8Array;
  /** Stream binding of the image (manifest.ts streamBinding). */
  readonly binding: Uint8Array;
  /** Release folder; the tables go into its envelopes/ folder, replacing earlier ones part by part. */
  readonly dir: string;
  /** Which eligible devices get an envelope (a staged rollout); all when absent. */
  readonly rollout?: (id: string) => boolean;
  /** `done` of `total` device slots are settled, in idx order. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Sealing threads; one per core by default. */
  readonly threads?: number;
}

export interface PublishResult {
  /** Slots in the tables: every device registered when publishing began. */
  readonly devices: number;
  readonly sealed: number;
  /** Slots left zero: revoked, another model, or outside the rollout. */
  readonly skipped: number;
  readonly parts: number;
  /** Size of all part files together (devices × 184). */
  readonly bytes: number;
  readonly seconds: number;
}

const partOf = (idx: number) => Math.floor(idx / ENVELOPES_PER_PART);

/** Bytes in part `part` of tables with `slots` slots: full parts, and a last one cut at the last device. */
function partLength(part: number, slots: number): number {
  return Math.min(ENVELOPES_PER_PART, slots - part * ENVELOPES_PER_PART) * ENVELOPE_BYTES;
}

/**
 * Seals the content key to every eligible device of `model` and writes the envelope tables. Each part
 * file is replaced atomically, but not the set of them: publish the release metadata only after this
 * returns. Devices registered while this runs are left for the next publication (their slot lies past
 * the tables).
 */
export async function publishEnvelopes(options: PublishOptions): Promise<PublishResult> {
  const started = performance.now();
  const { registry, rollout, onProgress } = options;
  const model = checkModel(options.model);
  if (options.contentKey.length !== STREAM_KEY_BYTES)
    throw new SihlError('USAGE', `a content key is ${STREAM_KEY_BYTES} bytes`);
  if (options.binding.length !== DIGEST_BYTES)
    throw new SihlError('USAGE', `a stream binding is ${DIGEST_BYTES} bytes`);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new SihlError('USAGE', 'threads must be at least 1');

  const slots = registry.count();
  const parts = Math.ceil(slots / ENVELOPES_PER_PART);
  const folder = join(options.dir, ENVELOPE_FOLDER);
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw naming(folder, error);
  });

  const tables = new PartTables(folder, slots);
  const pool = new SealingPool(threads, options.contentKey, options.binding);
  /** Batches being sealed or written, each with its first idx: the progress frontier is the smallest. */
  const inFlight = new Map<Promise<void>, number>();
  let failure: unknown;
  let sealed = 0;
  /** Every slot below this one is dispatched or left empty. */
  let cursor = 0;

  const progress = () => {
    if (onProgress === undefined) return;
    let done = cursor;
    for (const first of inFlight.values()) done = Math.min(done, first);
    try {
      onProgress(done, slots);
    } catch (error) {
      failure ??= error;
    }
  };

  /** Hands one batch to the sealing threads; `keys` holds `idxs.length` keys, end to end. */
  const dispatch = async (idxs: readonly number[], keys: Uint8Array<ArrayBuffer>) => {
    // Bounded memory: wait for a free place before reading on.
    while (inFlight.size >= threads * BATCHES_PER_THREAD && failure === undefined) {
      await Promise.race(inFlight.keys());
    }
    if (failure !== undefined) throw failure;
    const first = idxs[0] as number;
    const part = partOf(first);
    const file = await tables.reach(part);
    const job: Promise<void> = pool
      .seal(keys)
      .then((envelopes) => file.writeSlots(idxs, envelopes))
      .then(
        () => {
          sealed += idxs.length;
        },
        (error: unknown) => {
          failure ??= error;
        },
      )
      .finally(() => {
        tables.release(part);
        inFlight.delete(job);
        progress();
      });
    inFlight.set(job, first);
    cursor = (idxs[idxs.length - 1] as number) + 1;
  };

  try {
    // Rows are packed into a batch's key buffer as they are read, so they die young (see READ_BATCH).
    let idxs: number[] = [];
    let keys = new Uint8Array(SEAL_BATCH * BOX_PUBLIC_KEY_BYTES);
    walk: for (const rows of registry.eligible(model, READ_BATCH)) {
      for (const device of rows) {
        if (device.idx >= slots) break walk;
        if (rollout !== undefined && !rollout(device.id)) continue;
        const last = idxs[idxs.length - 1];
        if (last !== undefined && (idxs.length === SEAL_BATCH || partOf(device.idx) !== partOf(last))) {
          await dispatch(idxs, keys.slice(0, idxs.length * BOX_PUBLIC_KEY_BYTES));
          idxs = [];
          keys = new Uint8Array(SEAL_BATCH * BOX_PUBLIC_KEY_BYTES);
        }
        checkBoxPublicKey(device.box, `X25519 public key of device ${device.id}`);
        keys.set(device.box, idxs.length * BOX_PUBLIC_KEY_BYTES);
        idxs.push(device.idx);
      }
    }
    if (idxs.length > 0) await dispatch(idxs, keys.slice(0, idxs.length * BOX_PUBLIC_KEY_BYTES));
    await Promise.all(inFlight.keys());
    if (failure !== undefined) throw failure;
    cursor = slots;
    await tables.finish(parts);
    await pool.close();
    progress();
  } catch (error) {
    pool.terminate();
    await Promise.all(inFlight.keys());
    await tables.discard();
    throw error;
  }
  return {
    devices: slots,
    sealed,
    skipped: slots - sealed,
    parts,
    bytes: slots * ENVELOPE_BYTES,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The part files being written. Batches are dispatched in idx order, so once a batch for part p is
 * dispatched no later batch touches an earlier part: each earlier part is committed as soon as its
 * last batch is written.
 */
class PartTables {
  readonly #folder: string;
  readonly #slots: number;
  readonly #open = new Map<number, { file: PartFile; pending: number }>();
  /** Parts below this one have been created. */
  #next = 0;
  readonly #commits: Promise<void>[] = [];

  constructor(folder: string, slots: number) {
    this.#folder = folder;
    this.#slots = slots;
  }

  /** Part `part`, open for one more batch; earlier parts with nothing pending are committed. */
  async reach(part: number): Promise<PartFile> {
    await this.#createUpTo(part);
    for (const [open, entry] of this.#open) if (open < part && entry.pending === 0) this.#commit(open);
    const entry = this.#open.get(part);
    if (entry === undefined) throw new SihlError('INTERNAL', `envelope part ${part} is no longer open`);
    entry.pending++;
    return entry.file;
  }

  /** One batch of `part` is written (or failed). */
  release(part: number): void {
    const entry = this.#open.get(part);
    if (entry === undefined) return;
    entry.pending--;
    if (entry.pending === 0 && part < this.#next - 1) this.#commit(part);
  }

  /** Creates the parts that no batch reached, then commits every part. Call with nothing pending. */
  async finish(parts: number): Promise<void> {
    await this.#createUpTo(parts - 1);
    for (const part of [...this.#open.keys()]) this.#commit(part);
    await Promise.all(this.#commits);
  }

  /** Removes the temporary files of parts not yet committed. */
  async discard(): Promise<void> {
    await Promise.allSettled(this.#commits);
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(open.map((entry) => entry.file.discard()));
  }

  async #createUpTo(part: number): Promise<void> {
    for (; this.#next <= part; this.#next++) {
      const file = await PartFile.create(
        join(this.#folder, `${this.#next}.bin`),
        partLength(this.#next, this.#slots),
      );
      this.#open.set(this.#next, { file, pending: 0 });
    }
  }

  #commit(part: number): void {
    const entry = this.#open.get(part);
    if (entry === undefined) return;
    this.#open.delete(part);
    const commit = entry.file.commit();
    commit.catch(() => {}); // seen by finish() or discard(); not an unhandled rejection meanwhile
    this.#commits.push(commit);
  }
}

/**
 * One part file, written as src/core/fs.ts writeAtomically does (a temporary sibling, flushed, then
 * renamed into place), but kept open across many batches that land at their own offsets. It starts as
 * a sparse file of the part's length, so empty slots are zeros that take no disk space.
 */
class PartFile {
  readonly #path: string;
  readonly #temporary: string;
  readonly #handle: FileHandle;

  constructor(path: string, temporary: string, handle: FileHandle) {
    this.#path = path;
    this.#temporary = temporary;
    this.#handle = handle;
  }

  static async create(path: string, length: number): Promise<PartFile> {
    const temporary = temporaryPathFor(path);
    let handle: FileHandle | undefined;
    try {
      handle = await open(temporary, 'wx', 0o644);
      await handle.truncate(length);
      return new PartFile(path, temporary, handle);
    } catch (error) {
      await handle?.close().catch(() => {});
      await rm(temporary, { force: true });
      throw naming(path, error);
    }
  }

  /** Writes the envelopes of devices `idxs` (ascending), one positional write per run of neighbours. */
  async writeSlots(idxs: readonly number[], envelopes: Uint8Array): Promise<void> {
    let start = 0;
    for (let i = 1; i <= idxs.length; i++) {
      if (i < idxs.length && idxs[i] === (idxs[i - 1] as number) + 1) continue;
      const position = ((idxs[start] as number) % ENVELOPES_PER_PART) * ENVELOPE_BYTES;
      await this.#writeAt(envelopes.subarray(start * ENVELOPE_BYTES, i * ENVELOPE_BYTES), position);
      start = i;
    }
  }

  async #writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#handle
        .write(data, done, data.length - done, position + done)
        .catch((error: unknown) => {
          throw naming(this.#path, error);
        });
      done += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    try {
      await this.#handle.sync();
      await this.#handle.close();
      await rename(this.#temporary, this.#path);
    } catch (error) {
      await this.discard();
      throw naming(this.#path, error);
    }
  }

  async discard(): Promise<void> {
    await this.#handle.close().catch(() => {});
    await rm(this.#temporary, { force: true });
  }
}

const SEALER = new URL('./envelope-worker.ts', import.meta.url);

/** One sealing thread per core; each batch goes to the thread with the fewest batches. */
class SealingPool {
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

  /** Envelopes for the X25519 public keys laid end to end in `keys`, in the same order. */
  seal(keys: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let thread = this.#threads[0];
    for (const t of this.#threads) if (thread === undefined || t.jobs.size < thread.jobs.size) thread = t;
    if (thread === undefined) return Promise.reject(new SihlError('INTERNAL', 'no sealing thread'));
    const seq = this.#seq++;
    const { worker, jobs } = thread;
    return new Promise((resolve, reject) => {
      jobs.set(seq, (result) => (result instanceof Error ? reject(result) : resolve(result)));
      const message: ToSealer = { type: 'seal', seq, keys };
      worker.postMessage(message, [keys.buffer]);
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
