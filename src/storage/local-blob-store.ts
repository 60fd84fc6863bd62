// The blob store as a folder: key `metadata/1.root.json` is the file `<root>/metadata/1.root.json`, the
// layout src/publisher/tuf/publish.ts writes and sihl's HTTPS server serves. A file is written beside its
// final name under a dot name and renamed into place, so readers see the old file or the new one.
import { createReadStream, type Dirent, type Stats } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { naming } from '../core/errors.ts';
import { writeAtomically } from '../core/fs.ts';
import type { BlobInfo, BlobSource, BlobStore, GetOptions, GetResult, PutOptions } from './blob-store.ts';
// The contract every blob store keeps (key and range checks, answers), shared by the three stores.
import * as contract from './blob-store.ts';

// A folder keeps no content type: it follows from the name, as a static file server would send it.
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

function contentTypeOf(key: string): string {
  return CONTENT_TYPES[extname(key)] ?? contract.DEFAULT_CONTENT_TYPE;
}

/** Inode, size and modification time: a rename or rewrite changes it. */
function etagOf(info: Stats): string {
  const parts = [info.ino, info.size, Math.round(info.mtimeMs * 1000)].map((n) => Math.trunc(n).toString(16));
  return `"${parts.join('-')}"`;
}

function infoOf(key: string, info: Stats): BlobInfo {
  return { key, size: info.size, etag: etagOf(info), contentType: contentTypeOf(key) };
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let at = 0; at < chunk.length; ) {
    at += (await handle.write(chunk, at, chunk.length - at)).bytesWritten;
  }
}

async function fill(
  handle: FileHandle,
  source: BlobSource,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array> =
    source instanceof Uint8Array ? [source] : 'path' in source ? createReadStream(source.path) : source;
  let written = 0;
  for await (const chunk of chunks) {
    await writeAll(handle, chunk);
    written += chunk.length;
    onProgress?.(written);
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

class LocalBlobStore implements BlobStore {
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  #path(key: string): string {
    return join(this.#root, ...contract.checkBlobKey(key).split('/'));
  }

  async put(key: string, source: BlobSource, options: PutOptions = {}): Promise<BlobInfo> {
    const path = this.#path(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeAtomically(path, { overwrite: options.ifNoneMatch !== '*' }, (handle) =>
        fill(handle, source, options.onProgress),
      );
      return infoOf(key, await stat(path));
    } catch (error) {
      if ((error as { code?: string }).code === 'FILE_EXISTS' && options.ifNoneMatch === '*') {
        throw contract.objectExists(key);
      }
      throw naming(key, error);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | null> {
    contract.checkRange(options.range);
    const path = this.#path(key);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'r');
      // The open file stays the one we describe even if a new version is renamed over it meanwhile.
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        return null;
      }
      const blob = infoOf(key, info);
      if (options.ifNoneMatch !== undefined && options.ifNoneMatch === blob.etag) {
        await handle.close();
        return { status: 'not-modified', etag: blob.etag };
      }
      const start = options.range?.start ?? 0;
      if (options.range !== undefined && start >= info.size)
        throw contract.rangeNotSatisfiable(key, start, info.size);
      const end = Math.min(options.range?.end ?? info.size - 1, info.size - 1);
      if (info.size === 0) {
        await handle.close();
        return { status: 'ok', info: blob, range: { start, end }, body: Readable.from([]) };
      }
      const body = handle.createReadStream({ start, end, autoClose: true });
      handle = undefined;
      return { status: 'ok', info: blob, range: { start, end }, body };
    } catch (error) {
      await handle?.close();
      if (isMissing(error)) return null;
      throw naming(key, error);
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const info = await stat(this.#path(key));
      return info.isFile() ? infoOf(key, info) : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw naming(key, error);
    }
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    contract.checkBlobPrefix(prefix);
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const keys: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(join(this.#root, ...folder.split('/')), { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw naming(folder === '' ? '.' : folder, error);
      }
      for (const entry of entries) {
        // Dot names are temporary files of uploads in progress (and never valid keys).
        if (entry.name.startsWith('.')) continue;
        const key = `${folder}${entry.name}`;
        if (entry.isDirectory()) {
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(`${key}/`);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          keys.push(key);
        }
      }
    };
    await walk(base);
    keys.sort();
    for (const key of keys) {
      const info = await this.head(key);
      if (info !== null) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
    } catch (error) {
      if (!isMissing(error)) throw naming(key, error);
    }
  }

  async close(): Promise<void> {}
}

/** A blob store over the folder `root` (created on the first put). */
export function openLocalBlobStore(root: string): BlobStore {
  return new LocalBlobStore(root);
}
