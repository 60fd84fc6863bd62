import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BOX_PUBLIC_KEY_BYTES, checkBoxPublicKey } from '../core/crypto/box.ts';
import { DIGEST_BYTES } from '../core/crypto/hash.ts';
import { STREAM_KEY_BYTES } from '../core/crypto/stream.ts';
import { naming, SihlError } from '../core/errors.ts';
import { ENVELOPE_BYTES } from '../core/format/envelope.ts';
import { checkModel } from '../core/format/manifest.ts';
import { partCount, partOf, slotLocation } from '../core/format/slot-table.ts';
import { PartTables } from './envelope-parts.ts';
import type { Registry } from './registry.ts';
import { SealingPool } from './sealing-pool.ts';

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
  const { path, offset, length } = slotLocation(ENVELOPE_FOLDER, idx, ENVELOPE_BYTES);
  return { file: path, offset, length };
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

/** The eligible devices in batches of at most SEAL_BATCH, never across a part file: idxs and keys. */
function* batches(
  options: PublishOptions,
  model: string,
  slots: number,
): Generator<{ idxs: number[]; keys: Uint8Array<ArrayBuffer> }> {
  // Rows are packed into a batch's key buffer as they are read, so they die young (see READ_BATCH).
  let idxs: number[] = [];
  let keys = new Uint8Array(SEAL_BATCH * BOX_PUBLIC_KEY_BYTES);
  const batch = () => ({ idxs, keys: keys.slice(0, idxs.length * BOX_PUBLIC_KEY_BYTES) });
  walk: for (const rows of options.registry.eligible(model, READ_BATCH)) {
    for (const device of rows) {
      if (device.idx >= slots) break walk;
      if (options.rollout !== undefined && !options.rollout(device.id)) continue;
      const last = idxs[idxs.length - 1];
      if (last !== undefined && (idxs.length === SEAL_BATCH || partOf(device.idx) !== partOf(last))) {
        yield batch();
        idxs = [];
        keys = new Uint8Array(SEAL_BATCH * BOX_PUBLIC_KEY_BYTES);
      }
      checkBoxPublicKey(device.box, `X25519 public key of device ${device.id}`);
      keys.set(device.box, idxs.length * BOX_PUBLIC_KEY_BYTES);
      idxs.push(device.idx);
    }
  }
  if (idxs.length > 0) yield batch();
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
  sealed = 0;
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

  /** Hands one batch to the sealing threads; `keys` holds `idxs.length` keys, end to end. */
  async dispatch(idxs: readonly number[], keys: Uint8Array<ArrayBuffer>): Promise<void> {
    // Bounded memory: wait for a free place before reading on.
    while (this.inFlight.size >= this.#threads * BATCHES_PER_THREAD && this.failure === undefined) {
      await Promise.race(this.inFlight.keys());
    }
    if (this.failure !== undefined) throw this.failure;
    const first = idxs[0] as number;
    const part = partOf(first);
    const file = await this.#tables.reach(part);
    const job: Promise<void> = this.#pool
      .seal(keys)
      .then((envelopes) => file.writeSlots(idxs, envelopes))
      .then(
        () => {
          this.sealed += idxs.length;
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
    this.cursor = (idxs[idxs.length - 1] as number) + 1;
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
 * Seals the content key to every eligible device of `model` and writes the envelope tables. Each part
 * file is replaced atomically, but not the set of them: publish the release metadata only after this
 * returns. Devices registered while this runs are left for the next publication (their slot lies past
 * the tables).
 */
export async function publishEnvelopes(options: PublishOptions): Promise<PublishResult> {
  const started = performance.now();
  const model = checkModel(options.model);
  const threads = checkThreads(options);
  const slots = options.registry.count();
  const parts = partCount(slots);
  const folder = join(options.dir, ENVELOPE_FOLDER);
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw naming(folder, error);
  });
  const tables = new PartTables(folder, slots);
  const pool = new SealingPool(threads, options.contentKey, options.binding);
  const sealing = new Sealing(tables, pool, threads, slots, options);
  try {
    for (const { idxs, keys } of batches(options, model, slots)) await sealing.dispatch(idxs, keys);
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
  return {
    devices: slots,
    sealed: sealing.sealed,
    skipped: slots - sealing.sealed,
    parts,
    bytes: slots * ENVELOPE_BYTES,
    seconds: (performance.now() - started) / 1000,
  };
}
