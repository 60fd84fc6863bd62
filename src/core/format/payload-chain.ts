// The payload's chunk chain (docs/FORMAT.md §Chunk chain): the payload is stored as pieces, each
// followed by the SHA-256 of the stored chunk after it, and the signed manifest's payload digest is
// the digest of the first stored chunk. A reader that holds one expected digest (32 bytes) can
// authenticate each chunk in the same read that fetches it, whatever else happens to the storage.
import { DIGEST_BYTES } from '../crypto/hash.ts';
import { STREAM_CHUNK_OVERHEAD } from '../crypto/stream.ts';

/** Bytes of the link (the next stored chunk's SHA-256) after every piece but the last. */
export const LINK_BYTES = DIGEST_BYTES;

export interface ChainLayout {
  /** Number of pieces (and of stored chunks). */
  readonly count: number;
  /** Bytes of every piece but the last: the chunk size, plus 17 when encrypted. */
  readonly pieceBytes: number;
  /** Distance between the starts of two stored chunks: a piece and its link. */
  readonly stride: number;
  /** Bytes of the whole payload: every piece, and a link after each but the last. */
  readonly payloadBytes: number;
}

/** How the payload of `compressedSize` compressed bytes is cut and stored (FORMAT.md §Chunk chain). */
export function chainLayout(compressedSize: number, chunkSize: number, encrypted: boolean): ChainLayout {
  const count = Math.max(1, Math.ceil(compressedSize / chunkSize));
  const overhead = encrypted ? STREAM_CHUNK_OVERHEAD : 0;
  const pieceBytes = chunkSize + overhead;
  const pieces = compressedSize + count * overhead;
  return {
    count,
    pieceBytes,
    stride: pieceBytes + LINK_BYTES,
    payloadBytes: pieces + (count - 1) * LINK_BYTES,
  };
}

/** Offset (in the payload) and length of stored chunk `i`: its piece, and its link unless it is the last. */
export function storedChunk(layout: ChainLayout, i: number): { offset: number; length: number } {
  const offset = i * layout.stride;
  const length = i === layout.count - 1 ? layout.payloadBytes - offset : layout.stride;
  return { offset, length };
}
