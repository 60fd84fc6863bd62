// Turns a verified image's payload back into firmware: decrypt each chunk (bound to the manifest),
// decompress, undo the branch filter, and stop at the signed plaintext size (docs/FORMAT.md §Unpacking).
// Working memory is one chunk, the decoder window and a few small states, whatever the image size.

import { BranchConverter } from '../compress/branch-filter.ts';
import { brotliDecompressor, declaredWindowLog } from '../compress/brotli.ts';
import { Lzma2Decoder } from '../compress/lzma2.ts';
import { equalBytes, Sha256 } from '../crypto/hash.ts';
import { wipe } from '../crypto/sodium.ts';
import { STREAM_CHUNK_OVERHEAD, StreamDecryptor } from '../crypto/stream.ts';
import { naming, SihlError } from '../errors.ts';
import { streamBinding } from '../format/manifest.ts';
import type { ByteSource } from './source.ts';
import type { VerifiedImage } from './verify.ts';

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
}

/** Payload bytes read at a time: one file read per 16 KiB message would cost more than the work. */
const READ_BYTES = 256 * 1024;

/**
 * The compressed stream, decrypted chunk by chunk, handed to `take` one chunk at a time; the payload is
 * hashed again on the way. The buffers are reused, so `take` must be done with a chunk before it returns.
 */
async function forEachCompressedChunk(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
  take: (chunk: Uint8Array) => Promise<void>,
  readBytes: number,
): Promise<void> {
  const { manifest, payloadOffset } = image;
  const payloadHash = new Sha256();
  if (manifest.encryption.algorithm === 'none') {
    const buffer = new Uint8Array(Math.min(readBytes, manifest.payloadSize));
    for (let done = 0; done < manifest.payloadSize; ) {
      const step = Math.min(readBytes, manifest.payloadSize - done);
      const bytes = await source.read(payloadOffset + done, step, buffer);
      payloadHash.update(bytes);
      done += step;
      await take(bytes);
    }
  } else {
    if (contentKey === null)
      throw new SihlError('ENVELOPE_REQUIRED', 'image is encrypted: a key envelope is needed');
    const ad = streamBinding(image.manifestBytes);
    const decryptor = new StreamDecryptor(contentKey, manifest.encryption.header);
    const compressed = manifest.compression.compressedSize;
    const chunks = Math.max(1, Math.ceil(compressed / manifest.chunkSize));
    const sealedChunk = manifest.chunkSize + STREAM_CHUNK_OVERHEAD;
    const perRead = Math.max(1, Math.floor(readBytes / sealedChunk));
    const cipherBuffer = new Uint8Array(perRead * sealedChunk);
    const plainBuffer = new Uint8Array(perRead * manifest.chunkSize);
    let offset = payloadOffset;
    let remaining = compressed;
    try {
      for (let first = 0; first < chunks; first += perRead) {
        const count = Math.min(perRead, chunks - first);
        const plainLength = Math.min(count * manifest.chunkSize, remaining);
        remaining -= plainLength;
        const cipher = await source.read(offset, plainLength + count * STREAM_CHUNK_OVERHEAD, cipherBuffer);
        offset += cipher.length;
        payloadHash.update(cipher);
        // FORMAT.md §Which error: each message is decrypted, checked and decompressed before the next.
        for (let k = 0; k < count; k++) {
          const i = first + k;
          const sealed = cipher.subarray(k * sealedChunk, Math.min((k + 1) * sealedChunk, cipher.length));
          const { plaintext, final } = decryptor.pull(
            sealed,
            ad,
            plainBuffer.subarray(k * manifest.chunkSize),
          );
          // FORMAT.md §Encryption: FINAL on the last chunk and only there.
          if (final && i < chunks - 1)
            throw new SihlError('STREAM_TRAILING_DATA', `chunk ${i} is FINAL but more follow`);
          if (!final && i === chunks - 1)
            throw new SihlError('STREAM_TRUNCATED', 'the stream ends without a FINAL chunk');
          await take(plaintext);
        }
      }
    } finally {
      decryptor.wipe();
      wipe(plainBuffer);
    }
  }
  // Second look at the payload digest: the bytes decrypted are the bytes that were verified.
  if (!equalBytes(payloadHash.digest(), manifest.payloadDigest)) {
    throw new SihlError('PAYLOAD_DIGEST_MISMATCH', 'payload changed between verification and unpacking');
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
    // FORMAT.md §Unpacking: stop decompressing at the signed plaintext size.
    if (produced > manifest.plaintextSize) {
      throw new SihlError(
        'PLAINTEXT_SIZE_MISMATCH',
        `payload decompresses past its signed size of ${manifest.plaintextSize} bytes`,
      );
    }
    await emit(unfilter.update(chunk));
  };

  if (manifest.compression.algorithm === 'lzma2') {
    const decoder = new Lzma2Decoder(manifest.compression.windowLog);
    const pieces: Uint8Array[] = [];
    let decoded = 0;
    await forEachCompressedChunk(
      source,
      image,
      contentKey,
      async (chunk) => {
        // The decoder is synchronous: its output is taken in order before the next chunk is read.
        decoder.update(chunk, (piece) => {
          // Counted as it comes, so a stream that runs past the signed size stops here (output()
          // below counts the same bytes again and would say the same).
          decoded += piece.length;
          if (decoded > manifest.plaintextSize) {
            throw new SihlError(
              'PLAINTEXT_SIZE_MISMATCH',
              `payload decompresses past its signed size of ${manifest.plaintextSize} bytes`,
            );
          }
          pieces.push(piece);
        });
        for (const piece of pieces.splice(0)) await output(piece);
      },
      readBytes,
    );
    decoder.finish();
  } else if (manifest.compression.algorithm === 'brotli') {
    const decompressor = brotliDecompressor();
    let decoderError: unknown;
    decompressor.on('error', (error) => {
      decoderError = error;
    });
    // Output is taken as it comes; input waits until the decoder has consumed each chunk, so the
    // decrypt buffers can be reused.
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
      throw new SihlError(
        'DECOMPRESS_FAILED',
        `compressed payload is malformed: ${(error as Error).message}`,
        { cause: error },
      );
    }
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
