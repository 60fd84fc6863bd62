// The two passes of packing: read, filter and compress the firmware; then encrypt the compressed
// stream chunk by chunk. Both reuse their buffers, so memory does not follow the firmware size.
import { type FileHandle, open, rm } from 'node:fs/promises';
import { BranchConverter } from '../compress/branch-filter.ts';
import { brotliCompressor } from '../compress/brotli.ts';
import { lzma2Compressor } from '../compress/lzma2.ts';
import { Sha256 } from '../crypto/hash.ts';
import type { StreamEncryptor } from '../crypto/stream.ts';
import { naming, SihlError } from '../errors.ts';
import type { BranchFilter, CompressionAlgorithm } from '../format/manifest.ts';
import { temporaryPathFor } from '../fs.ts';

/** Bytes read at a time, from the firmware and from the compressed scratch file. */
const BATCH_BYTES = 256 * 1024;

export interface CompressSettings {
  readonly compression: CompressionAlgorithm;
  readonly filter: BranchFilter;
  readonly quality: number;
  readonly windowLog: number;
}

/** Reads the firmware once: plaintext digest, branch filter, compression; compressed bytes go to `put`. */
export async function compressPass(
  input: string,
  size: number,
  settings: CompressSettings,
  put: (bytes: Uint8Array) => Promise<void>,
  onProgress?: (done: number, total: number) => void,
): Promise<{ plaintextDigest: Uint8Array; compressedSize: number }> {
  const plainHash = new Sha256();
  const branch = new BranchConverter(settings.filter, 'encode');
  let compressedSize = 0;
  const compressor =
    settings.compression === 'brotli'
      ? brotliCompressor(settings.quality, settings.windowLog, size)
      : settings.compression === 'lzma2'
        ? lzma2Compressor(settings.windowLog)
        : null;
  const collect = async (bytes: Uint8Array) => {
    compressedSize += bytes.length;
    await put(bytes);
  };
  // The compressor's output is taken as it comes, while the input below waits for each write to be
  // consumed before its buffer is refilled: one read buffer for the whole file, no garbage per chunk.
  const drained = compressor
    ? (async () => {
        for await (const chunk of compressor) await collect(chunk);
      })()
    : Promise.resolve();
  drained.catch(() => {}); // observed below; avoids an unhandled rejection while reading
  const feed = (bytes: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      compressor?.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  let read = 0;
  let handle: FileHandle | undefined;
  try {
    handle = await open(input, 'r');
    const buffer = new Uint8Array(BATCH_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, read);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      plainHash.update(chunk);
      read += bytesRead;
      onProgress?.(read, size);
      // Without a compressor nothing else drains the writes: wait for each, as the buffer is reused.
      const filtered = branch.update(chunk);
      await (compressor ? Promise.race([feed(filtered), drained]) : collect(filtered));
    }
    const tail = branch.finish();
    if (compressor) {
      compressor.end(tail);
      await drained;
    } else {
      await collect(tail);
    }
  } catch (error) {
    compressor?.destroy();
    throw naming(input, error);
  } finally {
    await handle?.close();
  }
  if (read !== size)
    throw new SihlError('IO_ERROR', `firmware changed size while packing (${size} → ${read} bytes)`, {
      subject: input,
    });
  return { plaintextDigest: plainHash.digest(), compressedSize };
}

/** Cuts the compressed stream into chunks; the last one, and only it, is tagged FINAL. */
export async function encryptPass(
  compressed: FileHandle,
  compressedSize: number,
  chunkSize: number,
  encryptor: StreamEncryptor,
  binding: Uint8Array,
  put: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const chunks = Math.max(1, Math.ceil(compressedSize / chunkSize));
  // Read many chunks at a time: one file read per chunk costs more than encrypting it.
  const perRead = Math.max(1, Math.floor(BATCH_BYTES / chunkSize));
  const buffer = new Uint8Array(perRead * chunkSize);
  let offset = 0;
  for (let first = 0; first < chunks; first += perRead) {
    const count = Math.min(perRead, chunks - first);
    const length = Math.min(count * chunkSize, compressedSize - offset);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await compressed.read(buffer, filled, length - filled, offset + filled);
      if (bytesRead === 0) throw new SihlError('IO_ERROR', 'temporary compressed file ended early');
      filled += bytesRead;
    }
    offset += length;
    for (let k = 0; k < count; k++) {
      const chunk = buffer.subarray(k * chunkSize, Math.min((k + 1) * chunkSize, length));
      await put(encryptor.push(chunk, binding, first + k === chunks - 1));
    }
  }
}

/** A scratch file beside the output, removed afterwards whatever happens. */
export async function openScratch(
  output: string,
): Promise<{ handle: FileHandle; dispose: () => Promise<void> }> {
  const path = temporaryPathFor(output);
  const handle = await open(path, 'wx+', 0o600);
  return {
    handle,
    dispose: async () => {
      await handle.close().catch(() => {});
      await rm(path, { force: true });
    },
  };
}
