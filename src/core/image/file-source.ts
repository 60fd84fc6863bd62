// Image bytes from a file, for the CLI and the vendor side. (A bootloader reads flash instead.)
import { type FileHandle, open } from 'node:fs/promises';
import { naming, SihlError } from '../errors.ts';
import type { ByteSource } from './source.ts';

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
