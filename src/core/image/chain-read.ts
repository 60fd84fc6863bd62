// Reading a payload as its chunk chain (docs/FORMAT.md §Chunk chain): every stored chunk is hashed in
// the buffer it was read into and compared with the digest the chunk before it (or the signed
// manifest) announced, before any byte of it is handed on. Storage that changes between reads, or
// between verification and unpacking, is caught at the first chunk it touches.
import { equalBytes, Sha256 } from '../crypto/hash.ts';
import { SihlError } from '../errors.ts';
import { chainLayout, LINK_BYTES, storedChunk } from '../format/payload-chain.ts';
import type { ParsedImage } from './read.ts';
import type { ByteSource } from './source.ts';

/**
 * Hands every piece of the payload, authenticated, to `take` in order (`last` on the final one). The
 * buffer is reused: `take` must be done with a piece before it returns. `readBytes` bounds a read; at
 * least one stored chunk is read at a time.
 */
export async function forEachPiece(
  source: ByteSource,
  image: ParsedImage,
  readBytes: number,
  take: (piece: Uint8Array, index: number, last: boolean) => Promise<void>,
): Promise<void> {
  const { manifest, payloadOffset } = image;
  const layout = chainLayout(
    manifest.compression.compressedSize,
    manifest.chunkSize,
    manifest.encryption.algorithm !== 'none',
  );
  const perRead = Math.max(1, Math.floor(readBytes / layout.stride));
  const buffer = new Uint8Array(Math.min(perRead * layout.stride, layout.payloadBytes));
  let expected = manifest.payloadDigest;
  for (let first = 0; first < layout.count; first += perRead) {
    const last = Math.min(layout.count, first + perRead) - 1;
    const start = storedChunk(layout, first).offset;
    const end = storedChunk(layout, last).offset + storedChunk(layout, last).length;
    const bytes = await source.read(payloadOffset + start, end - start, buffer);
    for (let i = first; i <= last; i++) {
      const { offset, length } = storedChunk(layout, i);
      const chunk = bytes.subarray(offset - start, offset - start + length);
      // FORMAT.md §Chunk chain: each stored chunk's SHA-256 is the one announced before it.
      if (!equalBytes(new Sha256().update(chunk).digest(), expected)) {
        throw new SihlError(
          'PAYLOAD_DIGEST_MISMATCH',
          `payload chunk ${i} of ${layout.count} does not match the digest that the signed manifest chains to it`,
        );
      }
      const final = i === layout.count - 1;
      if (!final) expected = chunk.slice(length - LINK_BYTES);
      await take(final ? chunk : chunk.subarray(0, length - LINK_BYTES), i, final);
    }
  }
}
