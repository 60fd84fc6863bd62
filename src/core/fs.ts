// File helpers shared by the CLI and the library: atomic writes and bounded reads.
import { type FileHandle, link, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from './crypto/sodium.ts';
import { naming, SihlError } from './errors.ts';
import { toHex } from './format/bytes.ts';

/** A sibling temporary name in the same folder, so the final rename stays on one file system. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${toHex(randomBytes(6))}.tmp`);
}

function fileExists(path: string): SihlError {
  return new SihlError('FILE_EXISTS', 'file already exists; choose another name or pass --force', {
    subject: path,
  });
}

/**
 * Runs `fill` on a temporary file beside `path`, flushes it, and only then puts it at `path`: a whole
 * file or none. Without `overwrite`, the file is linked into place, which fails if something appeared
 * at `path` meanwhile, instead of renamed over it.
 */
export async function writeAtomically<T>(
  path: string,
  options: { overwrite?: boolean; mode?: number },
  fill: (handle: FileHandle) => Promise<T>,
): Promise<T> {
  if (!options.overwrite && (await exists(path))) throw fileExists(path);
  const temporary = temporaryPathFor(path);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx+', options.mode ?? 0o644); // readable too: packing reads its payload back
    const result = await fill(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (options.overwrite) {
      await rename(temporary, path);
    } else {
      try {
        await link(temporary, path);
      } catch (error) {
        throw (error as NodeJS.ErrnoException).code === 'EEXIST' ? fileExists(path) : error;
      }
      await unlink(temporary);
    }
    return result;
  } catch (error) {
    await handle?.close().catch(() => {});
    await rm(temporary, { force: true });
    throw naming(path, error);
  }
}

export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  await writeAtomically(path, options, (handle) => handle.writeFile(data));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a small file whole, never more than `limit` bytes, even if it grows while being read. */
export async function readSmallFile(path: string, limit: number): Promise<Uint8Array> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const info = await handle.stat();
    if (!info.isFile()) throw new SihlError('USAGE', 'not a regular file', { subject: path });
    const buffer = new Uint8Array(Math.min(info.size, limit) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > limit) {
        throw new SihlError('LIMIT_EXCEEDED', `file is larger than the limit of ${limit} bytes`, {
          subject: path,
        });
      }
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } catch (error) {
    throw naming(path, error);
  } finally {
    await handle?.close();
  }
}

/**
 * Reads a file holding a secret (a PIN), refusing one that group or others may read or write.
 */
export async function readSecretFile(path: string, limit: number): Promise<Uint8Array> {
  await refuseExposed(path);
  return readSmallFile(path, limit);
}

/**
 * Reads a private key file, refusing a sihl private key that group or others may read: a secret behind
 * a passphrase is still one offline guessing attack away from anyone who can copy the file. A file that
 * is no sihl private key at all is returned, for the decoder to say what it is instead.
 */
export async function readPrivateKeyFile(path: string, limit: number): Promise<Uint8Array> {
  const bytes = await readSmallFile(path, limit);
  if (looksLikePrivateKey(bytes)) await refuseExposed(path);
  return bytes;
}

function looksLikePrivateKey(bytes: Uint8Array): boolean {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))?.sihl === 'private-key';
  } catch {
    return false;
  }
}

async function refuseExposed(path: string): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    throw naming(path, error);
  }
  if ((mode & 0o077) !== 0) {
    throw new SihlError(
      'KEY_FILE_EXPOSED',
      `readable or writable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      { subject: path },
    );
  }
}
