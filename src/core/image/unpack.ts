// Turns a verified image's payload back into firmware: decrypt each chunk (bound to the manifest),
// decompress, undo the branch filter, and stop at the signed plaintext size (docs/FORMAT.md §Unpacking).
// Working memory is one chunk, the decoder window and a few small states, whatever the image size.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SihlError } from '../errors.ts';
import { brotliDecompressor, declaredWindowLog } from '../compress/brotli.ts';
import { BranchConverter } from '../compress/branch-filter.ts';
import { equalBytes, Sha256 } from '../crypto/hash.ts';
import { STREAM_CHUNK_OVERHEAD, StreamDecryptor } from '../crypto/stream.ts';
import { streamBinding } from '../format/manifest.ts';
import type { ByteSource } from './source.ts';
import type { VerifiedImage } from './verify.ts';

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
}

const PLAIN_READ_STEP = 256 * 1024;

/** The compressed stream, decrypted chunk by chunk; the payload is hashed again on the way. */
async function* compressedChunks(
  source: ByteSource,
  image: VerifiedImage,
  contentKey: Uint8Array | null,
): AsyncGenerator<Uint8Array> {
  const { manifest, payloadOffset } = image;
  const payloadHash = new Sha256();
  if (manifest.encryption.algorithm === 'none') {
    for (let done = 0; done < manifest.payloadSize; ) {
      const step = Math.min(PLAIN_READ_STEP, manifest.payloadSize - done);
      const bytes = await source.read(payloadOffset + done, step);
      payloadHash.update(bytes);
      done += step;
      yield bytes;
    }
  } else {
    if (contentKey === null) throw new SihlError('ENVELOPE_REQUIRED', 'image is encrypted: a key envelope is needed');
    const ad = streamBinding(image.manifestBytes);
    const decryptor = new StreamDecryptor(contentKey, manifest.encryption.header);
    const compressed = manifest.compression.compressedSize;
    const chunks = Math.max(1, Math.ceil(compressed / manifest.chunkSize));
    let offset = payloadOffset;
    for (let i = 0; i < chunks; i++) {
      const plainLength = i < chunks - 1 ? manifest.chunkSize : compressed - (chunks - 1) * manifest.chunkSize;
      const cipher = await source.read(offset, plainLength + STREAM_CHUNK_OVERHEAD);
      offset += cipher.length;
      payloadHash.update(cipher);
      const { plaintext, final } = decryptor.pull(cipher, ad);
      // FORMAT.md §Payload: FINAL on the last chunk and only there.
      if (final && i < chunks - 1) throw new SihlError('STREAM_TRAILING_DATA', `chunk ${i} is FINAL but more follow`);
      if (!final && i === chunks - 1) throw new SihlError('STREAM_TRUNCATED', 'the stream ends without a FINAL chunk');
      yield plaintext;
    }
    decryptor.wipe();
  }
  // Second look at the payload digest: the bytes decrypted are the bytes that were verified.
  if (!equalBytes(payloadHash.digest(), manifest.payloadDigest)) {
    throw new SihlError('PAYLOAD_DIGEST_MISMATCH', 'payload changed between verification and unpacking');
  }
}

/** Checks the declared Brotli window before decoding (FORMAT.md §Compression). */
async function* windowChecked(chunks: AsyncIterable<Uint8Array>, windowLog: number): AsyncGenerator<Uint8Array> {
  let first = true;
  for await (const chunk of chunks) {
    if (first && chunk.length > 0) {
      first = false;
      const declared = declaredWindowLog(chunk[0] as number);
      if (declared === null || declared > windowLog) {
        throw new SihlError('DECOMPRESS_FAILED', `compressed stream asks for a 2^${declared} window; the manifest allows 2^${windowLog}`);
      }
    }
    yield chunk;
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
): Promise<void> {
  const { manifest } = image;
  const unfilter = new BranchConverter(manifest.compression.filter, 'decode');
  const plainHash = new Sha256();
  let produced = 0;
  const emit = async (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    plainHash.update(bytes);
    await sink.write(bytes);
  };
  const output = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, done) {
      produced += chunk.length;
      // FORMAT.md §Unpacking: stop decompressing at the signed plaintext size.
      if (produced > manifest.plaintextSize) {
        done(new SihlError('PLAINTEXT_SIZE_MISMATCH', `payload decompresses past its signed size of ${manifest.plaintextSize} bytes`));
        return;
      }
      emit(unfilter.update(chunk)).then(() => done(), done);
    },
  });
  const chunks = compressedChunks(source, image, contentKey);
  try {
    if (manifest.compression.algorithm === 'brotli') {
      const checked = windowChecked(chunks, manifest.compression.windowLog);
      await pipeline(Readable.from(checked), brotliDecompressor(), output);
    } else {
      await pipeline(Readable.from(chunks), output);
    }
  } catch (error) {
    if (error instanceof SihlError) throw error;
    throw new SihlError('DECOMPRESS_FAILED', `compressed payload is malformed: ${(error as Error).message}`, { cause: error });
  }
  await emit(unfilter.finish());
  if (produced !== manifest.plaintextSize) {
    throw new SihlError('PLAINTEXT_SIZE_MISMATCH', `payload unpacks to ${produced} bytes; the manifest says ${manifest.plaintextSize}`);
  }
  if (!equalBytes(plainHash.digest(), manifest.plaintextDigest)) {
    throw new SihlError('PLAINTEXT_DIGEST_MISMATCH', 'unpacked firmware does not match the signed plaintext digest');
  }
}
