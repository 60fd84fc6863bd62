// File helpers shared by the CLI and the library: atomic writes and bounded reads.
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from './crypto/sodium.ts';
import { naming, SihlError } from './errors.ts';
import { toHex } from './format/bytes.ts';

/** A sibling temporary name in the same folder, so the final rename stays on one file system. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${toHex(randomBytes(6))}.tmp`);
}

/**
 * Writes a whole file or nothing: data goes to a temporary file, is flushed, and is renamed over the
 * target. Refuses to replace an existing file unless `overwrite` is set.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  if (!options.overwrite && (await exists(path))) {
    throw new SihlError('FILE_EXISTS', 'file already exists; choose another name or pass --force', {
      subject: path,
    });
  }
  const temporary = temporaryPathFor(path);
  try {
    const handle = await open(temporary, 'wx', options.mode ?? 0o644);
    try {
      await writeFile(handle, data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw naming(path, error);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a small file whole, refusing one larger than `limit` before reading it. */
export async function readSmallFile(path: string, limit: number): Promise<Uint8Array> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new SihlError('USAGE', 'not a regular file', { subject: path });
    if (info.size > limit) {
      throw new SihlError('LIMIT_EXCEEDED', `file is ${info.size} bytes; the limit is ${limit}`, {
        subject: path,
      });
    }
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw naming(path, error);
  }
}
