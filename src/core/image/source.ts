// Where image bytes come from: a file, a buffer, or (on a device) a flash slot. Random access, so the
// verifier can read the small parts first and stream the payload twice without holding it.
import { type FileHandle, open } from 'node:fs/promises';
import { naming, SihlError } from '../errors.ts';

export interface ByteSource {
  readonly size: number;
  /** Reads exactly `length` bytes; into `buffer` (from its start) when given, so loops can reuse one. */
  read(offset: number, length: number, buffer?: Uint8Array): Promise<Uint8Array>;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => {
      if (offset + length > bytes.length)
        throw new SihlError('IMAGE_TRUNCATED', 'read past the end of the image');
      return bytes.subarray(offset, offset + length);
    },
  };
}

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

export async function openFileSource(path: string): Promise<FileSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw naming(path, error);
  }
  const { size } = await handle.stat();
  return {
    size,
    read: async (offset, length, buffer) => {
      const out = buffer && buffer.length >= length ? buffer.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new SihlError('IMAGE_TRUNCATED', 'file ended while reading the image', { subject: path });
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

/** Runs `use` with a file source and closes it afterwards; errors name the file. */
export async function withFileSource<T>(path: string, use: (source: FileSource) => Promise<T>): Promise<T> {
  const source = await openFileSource(path);
  try {
    return await use(source);
  } catch (error) {
    throw naming(path, error);
  } finally {
    await source.close();
  }
}
