// The part files of a release's envelope tables: each written to a temporary file at its full length,
// filled batch by batch at its offsets (every slot is written: filler too), synced and renamed into place.
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { naming, SihlError } from '../core/errors.ts';
import { ENVELOPE_BYTES } from '../core/format/envelope.ts';
import { slotOffset, partLength as tablePartLength } from '../core/format/slot-table.ts';
import { temporaryPathFor } from '../core/fs.ts';

/** Bytes in part `part` of envelope tables with `slots` slots (src/core/format/slot-table.ts). */
export function partLength(part: number, slots: number): number {
  return tablePartLength(part, slots, ENVELOPE_BYTES);
}

/**
 * The part files being written. Batches are dispatched in idx order, so once a batch for part p is
 * dispatched no later batch touches an earlier part: each earlier part is committed as soon as its
 * last batch is written.
 */
export class PartTables {
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
 * renamed into place), but kept open across many batches that land at their own offsets.
 */
export class PartFile {
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

  /** Writes the slots from `first` on (all in this part), laid end to end in `envelopes`. */
  async writeSlots(first: number, envelopes: Uint8Array): Promise<void> {
    await this.#writeAt(envelopes, slotOffset(first, ENVELOPE_BYTES));
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
