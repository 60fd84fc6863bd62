import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BOX_PUBLIC_KEY_BYTES } from '../core/crypto/box.ts';
import { DIGEST_BYTES } from '../core/crypto/hash.ts';
import { randomBytes } from '../core/crypto/sodium.ts';
import { STREAM_KEY_BYTES } from '../core/crypto/stream.ts';
import { naming, SihlError } from '../core/errors.ts';
import { ENVELOPE_BYTES } from '../core/format/envelope.ts';
import { partCount, partOf, RECIPIENT_BYTES } from '../core/format/slot-table.ts';
import { PartTables } from './envelope-parts.ts';
import type { RecipientPlan } from './recipients.ts';
import { SealingPool } from './sealing-pool.ts';

export const ENVELOPE_FOLDER = 'envelopes';
/** Slots per batch handed to a sealing thread: about 0.1 s of work, 377 KiB of envelopes. */
export const SEAL_BATCH = 2_048;
/** Batches in flight per thread: one being sealed, one waiting, so no thread idles between batches. */
const BATCHES_PER_THREAD = 2;
/**
 * Registry rows read at a time while publishing. Small on purpose: rows still referenced across a wait
 * get promoted, and V8 answers by growing the young generation, which shows in the RSS (10,000-row reads
 * peaked at about 350 MiB for 1,000,000 devices, 512-row reads at about 210 MiB, at the same speed).
 */
export const READ_BATCH = 512;

export interface PublishOptions {
  /** Who gets an envelope and in which slot (recipients.ts). */
  readonly plan: RecipientPlan;
  readonly contentKey: Uint8Array;
  /** Stream binding of the image (manifest.ts streamBinding). */
  readonly binding: Uint8Array;
  /** Release folder; the tables go into its envelopes/ folder, replacing earlier ones part by part. */
  readonly dir: string;
  /** `done` of `total` slots are settled, in slot order. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Sealing threads; one per core by default, and never more than batches of SEAL_BATCH slots. */
  readonly threads?: number;
}

export interface PublishResult {
  /** Devices registered when publishing began (revoked ones and other models too). */
  readonly devices: number;
  readonly sealed: number;
  /** Registered devices without an envelope: revoked, another model, or outside the rollout. */
  readonly skipped: number;
  /** Slots in the tables (a power of two; filler where no device is). */
  readonly slots: number;
  readonly parts: number;
  /** Size of all part files together (slots × 184). */
  readonly bytes: number;
  readonly seconds: number;
}

/**
 * The table in slot order, in batches of at most SEAL_BATCH slots that never cross a part file: each
 * slot's X25519 key (zeros for filler) and its recipient id (random for filler).
 */
function* batches(
  plan: RecipientPlan,
): Generator<{ first: number; keys: Uint8Array<ArrayBuffer>; ids: Uint8Array<ArrayBuffer> }> {
  for (let first = 0; first < plan.slots; first += SEAL_BATCH) {
    const count = Math.min(SEAL_BATCH, plan.slots - first);
    const keys = new Uint8Array(count * BOX_PUBLIC_KEY_BYTES);
    const ids = randomBytes(count * RECIPIENT_BYTES) as Uint8Array<ArrayBuffer>;
    for (let i = 0; i < count; i++) {
      const owner = plan.owner[first + i] as number;
      if (owner < 0) continue;
      keys.set(
        plan.keys.subarray(owner * BOX_PUBLIC_KEY_BYTES, (owner + 1) * BOX_PUBLIC_KEY_BYTES),
        i * BOX_PUBLIC_KEY_BYTES,
      );
      ids.set(plan.ids.subarray(owner * RECIPIENT_BYTES, (owner + 1) * RECIPIENT_BYTES), i * RECIPIENT_BYTES);
    }
    yield { first, keys, ids };
  }
}

/** Batches in flight to the sealing threads and into the part files, with the first failure kept. */
class Sealing {
  readonly #tables: PartTables;
  readonly #pool: SealingPool;
  readonly #threads: number;
  readonly #slots: number;
  readonly #onProgress: PublishOptions['onProgress'];
  /** Batches being sealed or written, each with its first idx: the progress frontier is the smallest. */
  readonly inFlight = new Map<Promise<void>, number>();
  failure: unknown;
  /** Slots written, filler included. */
  written = 0;
  /** Every slot below this one is dispatched or left empty. */
  cursor = 0;

  constructor(
    tables: PartTables,
    pool: SealingPool,
    threads: number,
    slots: number,
    options: PublishOptions,
  ) {
    this.#tables = tables;
    this.#pool = pool;
    this.#threads = threads;
    this.#slots = slots;
    this.#onProgress = options.onProgress;
  }

  progress(): void {
    if (this.#onProgress === undefined) return;
    let done = this.cursor;
    for (const first of this.inFlight.values()) done = Math.min(done, first);
    try {
      this.#onProgress(done, this.#slots);
    } catch (error) {
      this.failure ??= error;
    }
  }

  /** Hands one batch of consecutive slots from `first` to the sealing threads. */
  async dispatch(first: number, keys: Uint8Array<ArrayBuffer>, ids: Uint8Array<ArrayBuffer>): Promise<void> {
    // Bounded memory: wait for a free place before reading on.
    while (this.inFlight.size >= this.#threads * BATCHES_PER_THREAD && this.failure === undefined) {
      await Promise.race(this.inFlight.keys());
    }
    if (this.failure !== undefined) throw this.failure;
    const count = keys.length / BOX_PUBLIC_KEY_BYTES;
    const part = partOf(first);
    const file = await this.#tables.reach(part);
    const job: Promise<void> = this.#pool
      .seal(keys, ids)
      .then((envelopes) => file.writeSlots(first, envelopes))
      .then(
        () => {
          this.written += count;
        },
        (error: unknown) => {
          this.failure ??= error;
        },
      )
      .finally(() => {
        this.#tables.release(part);
        this.inFlight.delete(job);
        this.progress();
      });
    this.inFlight.set(job, first);
    this.cursor = first + count;
  }

  /** Waits for every batch; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight.keys());
    if (this.failure !== undefined) throw this.failure;
  }
}

function checkThreads(options: PublishOptions): number {
  if (options.contentKey.length !== STREAM_KEY_BYTES)
    throw new SihlError('USAGE', `a content key is ${STREAM_KEY_BYTES} bytes`);
  if (options.binding.length !== DIGEST_BYTES)
    throw new SihlError('USAGE', `a stream binding is ${DIGEST_BYTES} bytes`);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new SihlError('USAGE', 'threads must be at least 1');
  return threads;
}

/**
 * Seals the content key to every recipient of the plan, in its slot, and fills every other slot with
 * an envelope sealed to a throwaway key, so that filler looks like the rest. Each part file is replaced
 * atomically, but not the set of them: publish the release metadata only after this returns.
 */
export async function publishEnvelopes(options: PublishOptions): Promise<PublishResult> {
  const started = performance.now();
  const { plan } = options;
  const slots = plan.slots;
  // No more threads than batches: a thread without a batch would only cost its start-up.
  const threads = Math.min(checkThreads(options), Math.max(1, Math.ceil(slots / SEAL_BATCH)));
  const parts = partCount(slots);
  const folder = join(options.dir, ENVELOPE_FOLDER);
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw naming(folder, error);
  });
  const tables = new PartTables(folder, slots);
  const pool = new SealingPool(threads, options.contentKey, options.binding);
  const sealing = new Sealing(tables, pool, threads, slots, options);
  try {
    for (const { first, keys, ids } of batches(plan)) await sealing.dispatch(first, keys, ids);
    await sealing.drain();
    sealing.cursor = slots;
    await tables.finish(parts);
    await pool.close();
    sealing.progress();
  } catch (error) {
    pool.terminate();
    await Promise.all(sealing.inFlight.keys());
    await tables.discard();
    throw error;
  }
  const sealed = plan.recipients;
  return {
    devices: plan.registered,
    sealed,
    skipped: plan.registered - sealed,
    slots,
    parts,
    bytes: slots * ENVELOPE_BYTES,
    seconds: (performance.now() - started) / 1000,
  };
}
