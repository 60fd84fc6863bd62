// Turns a verified image's payload back into firmware: authenticate each stored chunk by the chain,
// decrypt it (bound to the manifest), decompress, undo the branch filter, and stop at the signed
// plaintext size (docs/FORMAT.md §Unpacking). Every byte handed on was authenticated in the read that
// fetched it, so the payload needs no separate verification pass before it is unpacked.
// Working memory is one chunk, the decoder window and a few small states, whatever the image size.

import { BranchConverter } from '../compress/branch-filter.ts';
import { brotliDecompressor, declaredWindowLog } from '../compress/brotli.ts';
import { Lzma2Decoder } from '../compress/lzma2.ts';
import { equalBytes, Sha256 } from '../crypto/hash.ts';
import { wipe } from '../crypto/sodium.ts';
import { STREAM_CHUNK_OVERHEAD, StreamDecryptor } from '../crypto/stream.ts';
import { naming, SihlError } from '../errors.ts';
import { streamBinding } from '../format/manifest.ts';
import { forEachPiece } from './chain-read.ts';
import type { ByteSource } from './source.ts';
import type { VerifiedImage } from './verify.ts';

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
}

/** Payload bytes read at a time: one file read per 16 KiB message would cost more than the work. */
const READ_BYTES = 256 * 1024;

/**
 * The compressed stream, chunk by chunk: each stored chunk authenticated by the chain as it is read
 * (FORMAT.md §Chunk chain), then decrypted when the image is encrypted, and handed to `take`. The
 * buffers are reused, so `take` must be done with a chunk before it returns.
 */
async function forEachCompressedChunk(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
  take: (chunk: Uint8Array) => Promise<void>,
  readBytes: number,
): Promise<void> {
  const { manifest } = image;
  if (manifest.encryption.algorithm === 'none') {
    await forEachPiece(source, image, readBytes, (piece) => take(piece));
    return;
  }
  if (contentKey === null)
    throw new SihlError('ENVELOPE_REQUIRED', 'image is encrypted: a key envelope is needed');
  const ad = streamBinding(image.manifestBytes);
  const decryptor = new StreamDecryptor(contentKey, manifest.encryption.header);
  const plain = new Uint8Array(manifest.chunkSize);
  try {
    await forEachPiece(source, image, readBytes, async (sealed, i, last) => {
      const { final } = decryptor.pull(sealed, ad, plain);
      // FORMAT.md §Encryption: FINAL on the last chunk and only there.
      if (final && !last) throw new SihlError('STREAM_TRAILING_DATA', `chunk ${i} is FINAL but more follow`);
      if (!final && last) throw new SihlError('STREAM_TRUNCATED', 'the stream ends without a FINAL chunk');
      await take(plain.subarray(0, sealed.length - STREAM_CHUNK_OVERHEAD));
    });
  } finally {
    decryptor.wipe();
    wipe(plain);
  }
}

/** Checks the window a Brotli stream declares before decoding it (FORMAT.md §Compression). */
function checkDeclaredWindow(firstByte: number, windowLog: number): void {
  const declared = declaredWindowLog(firstByte);
  if (declared === null || declared > windowLog) {
    throw new SihlError(
      'DECOMPRESS_FAILED',
      `compressed stream asks for a 2^${declared} window; the manifest allows 2^${windowLog}`,
    );
  }
}

/**
 * The compressed chunks through a Brotli decoder into `output`: input waits until the decoder has
 * consumed each chunk, so the decrypt buffers can be reused; output is taken as it comes.
 */
async function brotliChunks(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
  output: (chunk: Uint8Array) => Promise<void>,
  readBytes: number,
): Promise<void> {
  const { manifest } = image;
  const decompressor = brotliDecompressor();
  let decoderError: unknown;
  decompressor.on('error', (error) => {
    decoderError = error;
  });
  const drained = (async () => {
    for await (const chunk of decompressor) await output(chunk);
  })();
  drained.catch(() => {});
  let first = true;
  try {
    await forEachCompressedChunk(
      source,
      image,
      contentKey,
      async (chunk) => {
        if (first && chunk.length > 0) {
          first = false;
          checkDeclaredWindow(chunk[0] as number, manifest.compression.windowLog);
        }
        const written = new Promise<void>((resolve, reject) => {
          decompressor.write(chunk, (error) => (error ? reject(error) : resolve()));
        });
        await Promise.race([written, drained]);
      },
      readBytes,
    );
    decompressor.end();
    await drained;
    // FORMAT.md §Compression: the Brotli stream ends exactly at the end of the compressed bytes.
    if (decompressor.bytesWritten !== manifest.compression.compressedSize) {
      throw new SihlError('DECOMPRESS_FAILED', 'compressed bytes follow the end of the Brotli stream');
    }
  } catch (error) {
    decompressor.destroy();
    if (error !== decoderError) throw error;
    throw new SihlError('DECOMPRESS_FAILED', `compressed payload is malformed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** FORMAT.md §Unpacking: decompressing stops at the signed plaintext size. */
function checkNotPastSigned(produced: number, plaintextSize: number): void {
  if (produced > plaintextSize) {
    throw new SihlError(
      'PLAINTEXT_SIZE_MISMATCH',
      `payload decompresses past its signed size of ${plaintextSize} bytes`,
    );
  }
}

/** The LZMA2 payload (FORMAT.md §Compression), decoded chunk by chunk into `output` in order. */
async function lzma2Chunks(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
  output: (chunk: Uint8Array) => Promise<void>,
  readBytes: number,
): Promise<void> {
  const { manifest } = image;
  const decoder = new Lzma2Decoder(manifest.compression.windowLog);
  const pieces: Uint8Array[] = [];
  let decoded = 0;
  await forEachCompressedChunk(
    source,
    image,
    contentKey,
    async (chunk) => {
      // The decoder is synchronous: its output is taken in order before the next chunk is read.
      let failure: unknown = null;
      try {
        decoder.update(chunk, (piece) => {
          // Counted as it comes, so a stream that runs past the signed size stops here (output()
          // counts the same bytes again and would say the same).
          decoded += piece.length;
          checkNotPastSigned(decoded, manifest.plaintextSize);
          pieces.push(piece);
        });
      } catch (error) {
        failure = error;
      }
      // What was decoded before a failure goes on first, as a bootloader with bounded RAM writes it
      // (docs/BOOT.md §Install step 10); the failure stops the pass right after.
      for (const piece of pieces.splice(0)) await output(piece);
      if (failure !== null) throw failure;
    },
    readBytes,
  );
  decoder.finish();
}

/**
 * Streams the plaintext of a verified image into `sink`. Resolves only if every check passed: the
 * caller must treat what the sink received as garbage when this rejects.
 */
export async function unpackPayload(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
  sink: ByteSink,
  options: { readonly readBytes?: number } = {},
): Promise<void> {
  const readBytes = options.readBytes ?? READ_BYTES;
  const { manifest } = image;
  const unfilter = new BranchConverter(manifest.compression.filter, 'decode');
  const plainHash = new Sha256();
  let produced = 0;
  const emit = async (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    plainHash.update(bytes);
    try {
      await sink.write(bytes);
    } catch (error) {
      // A full disk is not a bad image: keep an I/O error as such; anything else passes unchanged.
      const errno = (error as NodeJS.ErrnoException | undefined)?.code;
      throw typeof errno === 'string' && !(error instanceof SihlError) ? naming('output', error) : error;
    }
  };
  const output = async (chunk: Uint8Array) => {
    produced += chunk.length;
    checkNotPastSigned(produced, manifest.plaintextSize);
    await emit(unfilter.update(chunk));
  };

  if (manifest.compression.algorithm === 'lzma2') {
    await lzma2Chunks(source, image, contentKey, output, readBytes);
  } else if (manifest.compression.algorithm === 'brotli') {
    await brotliChunks(source, image, contentKey, output, readBytes);
  } else {
    await forEachCompressedChunk(source, image, contentKey, output, readBytes);
  }
  await emit(unfilter.finish());
  if (produced !== manifest.plaintextSize) {
    throw new SihlError(
      'PLAINTEXT_SIZE_MISMATCH',
      `payload unpacks to ${produced} bytes; the manifest says ${manifest.plaintextSize}`,
    );
  }
  if (!equalBytes(plainHash.digest(), manifest.plaintextDigest)) {
    throw new SihlError(
      'PLAINTEXT_DIGEST_MISMATCH',
      'unpacked firmware does not match the signed plaintext digest',
    );
  }
}
