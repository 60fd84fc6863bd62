// Packing the payload as a chunk chain (docs/FORMAT.md §Chunk chain): pieces are written forward with
// room for a link before each but the first; then the file is read backward, one batch of stored
// chunks at a time, and every link is filled in with the SHA-256 of the stored chunk after it. The
// digest of the first stored chunk is the manifest's payload digest.
import type { FileHandle } from 'node:fs/promises';
import { Sha256 } from '../crypto/hash.ts';
import { SihlError } from '../errors.ts';
import { type ChainLayout, LINK_BYTES, storedChunk } from '../format/payload-chain.ts';

/** Stored chunks read and rewritten at a time by the backward pass. */
const BATCH_BYTES = 256 * 1024;

/** Puts a link's worth of room before every piece but the first, so pieces land where the chain wants. */
export class GapWriter {
  readonly #put: (bytes: Uint8Array) => Promise<void>;
  readonly #pieceBytes: number;
  readonly #gap = new Uint8Array(LINK_BYTES);
  #inPiece = 0;
  #pieces = 0;

  constructor(pieceBytes: number, put: (bytes: Uint8Array) => Promise<void>) {
    this.#pieceBytes = pieceBytes;
    this.#put = put;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#inPiece === this.#pieceBytes) this.#inPiece = 0;
      if (this.#inPiece === 0) {
        if (this.#pieces > 0) await this.#put(this.#gap);
        this.#pieces++;
      }
      const take = Math.min(bytes.length - at, this.#pieceBytes - this.#inPiece);
      await this.#put(bytes.subarray(at, at + take));
      this.#inPiece += take;
      at += take;
    }
  }
}

async function readExactly(handle: FileHandle, buffer: Uint8Array, position: number): Promise<void> {
  for (let filled = 0; filled < buffer.length; ) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) throw new SihlError('IO_ERROR', 'image ended early while chaining its payload');
    filled += bytesRead;
  }
}

async function writeExactly(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Fills in every link of a payload written by GapWriter at `payloadOffset`; returns the chain's head. */
export async function chainPass(
  handle: FileHandle,
  payloadOffset: number,
  layout: ChainLayout,
): Promise<Uint8Array> {
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / layout.stride));
  const buffer = new Uint8Array(perBatch * layout.stride);
  let next: Uint8Array | null = null;
  for (let last = layout.count - 1; last >= 0; last -= perBatch) {
    const first = Math.max(0, last - perBatch + 1);
    const start = storedChunk(layout, first).offset;
    const end = storedChunk(layout, last).offset + storedChunk(layout, last).length;
    const batch = buffer.subarray(0, end - start);
    await readExactly(handle, batch, payloadOffset + start);
    for (let i = last; i >= first; i--) {
      const { offset, length } = storedChunk(layout, i);
      const chunk = batch.subarray(offset - start, offset - start + length);
      if (next) chunk.set(next, length - LINK_BYTES);
      next = new Sha256().update(chunk).digest();
    }
    await writeExactly(handle, batch, payloadOffset + start);
  }
  return next as Uint8Array;
}

/** The same chain built in memory from its pieces: for tests and hand-made images. */
export function chainPieces(pieces: readonly Uint8Array[]): { payload: Uint8Array; digest: Uint8Array } {
  const stored: Uint8Array[] = [];
  let next: Uint8Array | null = null;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const piece = pieces[i] as Uint8Array;
    const chunk: Uint8Array = next ? Buffer.concat([piece, next]) : piece;
    stored.unshift(chunk);
    next = new Sha256().update(chunk).digest();
  }
  return { payload: new Uint8Array(Buffer.concat(stored)), digest: next ?? new Sha256().digest() };
}
