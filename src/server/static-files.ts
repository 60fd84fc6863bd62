// Serves the store read-only (docs/SERVER.md §Files): GET and HEAD, strong ETags, conditional requests,
// one byte range, no listings, nothing outside the store. Small files (metadata) are kept in memory and
// re-validated with one stat per request: a new inode, size, mtime or ctime (an atomic rename of
// timestamp.json changes the inode) reloads them, so a poll never sees stale content.
import { constants, type Stats, statSync } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sha256 } from '../core/crypto/hash.ts';
import { toHex } from '../core/format/bytes.ts';
import { parseRange } from './byte-range.ts';
import { resolveRequestPath } from './request-path.ts';

/** Files up to this size are served from memory, with an ETag from their content. */
export const SMALL_FILE_BYTES = 64 * 1024;
const CACHE_ENTRIES = 1024;
const CACHE_BYTES = 32 * 1024 * 1024;
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else may change in place: caches must ask again (and get a 304 when nothing changed). */
const REVALIDATE = 'no-cache';

interface Entry {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly etag: string;
  readonly body: Buffer | undefined;
  readonly realPath: string;
  readonly headers: OutgoingHttpHeaders;
  readonly notModified: OutgoingHttpHeaders;
}

function contentTypeOf(path: string): string {
  return path.endsWith('.json') ? 'application/json' : 'application/octet-stream';
}

/** Content-addressed targets and versioned metadata never change once written (publisher/tuf/publish.ts). */
function cacheControlOf(segments: readonly string[]): string {
  if (segments[0] === 'targets') return IMMUTABLE;
  if (
    segments.length === 2 &&
    segments[0] === 'metadata' &&
    /^\d+\.(root|targets|snapshot)\.json$/.test(segments[1] as string)
  )
    return IMMUTABLE;
  return REVALIDATE;
}

function sameFile(entry: Entry, info: Stats): boolean {
  return (
    entry.ino === info.ino &&
    entry.dev === info.dev &&
    entry.size === info.size &&
    entry.mtimeMs === info.mtimeMs &&
    entry.ctimeMs === info.ctimeMs
  );
}

function matches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === etag) return true;
  // Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

export class StaticFiles {
  readonly #root: string;
  readonly #realRoot: string;
  readonly #cache = new Map<string, Entry>();
  #cachedBytes = 0;
  /** Stats taken in this turn of the event loop (see #stat). */
  readonly #turn = new Map<string, Stats | undefined>();

  private constructor(root: string, realRoot: string) {
    this.#root = root;
    this.#realRoot = realRoot;
  }

  static async open(root: string): Promise<StaticFiles> {
    return new StaticFiles(root, await realpath(root));
  }

  /** Answers a GET or HEAD; returns the status sent. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const resolved = resolveRequestPath(this.#root, req.url ?? '');
    if (!resolved.ok) return this.#fail(res, resolved.status);
    const info = this.#stat(resolved.path);
    if (!info?.isFile()) {
      this.#forget(resolved.path);
      return this.#fail(res, 404);
    }
    let entry = this.#cache.get(resolved.path);
    if (!entry || !sameFile(entry, info)) {
      entry = await this.#load(resolved.path, resolved.segments);
      if (!entry) return this.#fail(res, 404);
    }
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && matches(ifNoneMatch, entry.etag)) {
      res.writeHead(304, entry.notModified);
      res.end();
      return 304;
    }
    const ifRange = req.headers['if-range'];
    const range = parseRange(
      ifRange === undefined || ifRange === entry.etag ? req.headers.range : undefined,
      entry.size,
    );
    const head = req.method === 'HEAD';
    if (range.kind === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${entry.size}`, 'content-length': 0 });
      res.end();
      return 416;
    }
    if (range.kind === 'whole') {
      res.writeHead(200, entry.headers);
      if (head) res.end();
      else if (entry.body) res.end(entry.body);
      else await this.#stream(res, entry, 0, entry.size - 1);
      return 200;
    }
    const { start, end } = range;
    res.writeHead(206, {
      ...entry.headers,
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${entry.size}`,
    });
    if (head) res.end();
    else if (entry.body) res.end(entry.body.subarray(start, end + 1));
    else await this.#stream(res, entry, start, end);
    return 206;
  }

  /**
   * A synchronous stat (microseconds on a local store, less than a trip to the thread pool), shared by
   * the requests handled in one turn of the event loop: they all arrived after it began, so a file
   * replaced before any of them was sent is seen replaced. Under load this saves most of the stats.
   */
  #stat(path: string): Stats | undefined {
    const known = this.#turn.get(path);
    if (known !== undefined || this.#turn.has(path)) return known;
    let info: Stats | undefined;
    try {
      info = statSync(path, { throwIfNoEntry: false });
    } catch {
      info = undefined; // ENOTDIR, ELOOP, EACCES: as good as absent
    }
    if (this.#turn.size === 0) setImmediate(() => this.#turn.clear());
    this.#turn.set(path, info);
    return info;
  }

  #fail(res: ServerResponse, status: 400 | 404): number {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': status === 404 ? 10 : 12 });
    res.end(status === 404 ? 'not found\n' : 'bad request\n');
    return status;
  }

  /** Opens the file behind `path` if it really lies inside the store, and describes it. */
  async #load(path: string, segments: readonly string[]): Promise<Entry | undefined> {
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      return undefined;
    }
    // A symbolic link out of the store is as good as absent.
    if (!real.startsWith(this.#realRoot + sep)) return undefined;
    let handle: FileHandle | undefined;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      let body: Buffer | undefined;
      let etag: string;
      if (info.size <= SMALL_FILE_BYTES) {
        body = Buffer.alloc(info.size);
        let filled = 0;
        while (filled < body.length) {
          const { bytesRead } = await handle.read(body, filled, body.length - filled, filled);
          if (bytesRead === 0) return undefined; // shrank while read: the next request tries again
          filled += bytesRead;
        }
        etag = `"${toHex(sha256(body).subarray(0, 16))}"`;
      } else {
        etag = `"${info.ino.toString(36)}-${info.size.toString(36)}-${Math.floor(info.mtimeMs * 1000).toString(36)}"`;
      }
      const cacheControl = cacheControlOf(segments);
      const entry: Entry = {
        dev: info.dev,
        ino: info.ino,
        size: info.size,
        mtimeMs: info.mtimeMs,
        ctimeMs: info.ctimeMs,
        etag,
        body,
        realPath: real,
        headers: {
          'content-type': contentTypeOf(path),
          'content-length': info.size,
          etag,
          'cache-control': cacheControl,
          'accept-ranges': 'bytes',
          'x-content-type-options': 'nosniff',
        },
        notModified: { etag, 'cache-control': cacheControl },
      };
      this.#remember(path, entry);
      return entry;
    } catch {
      return undefined;
    } finally {
      await handle?.close();
    }
  }

  async #stream(res: ServerResponse, entry: Entry, start: number, end: number): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(entry.realPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      const info = await handle.stat();
      // Replaced since it was described: the headers sent are wrong for these bytes, so end the reply
      // short; the client sees a truncated body and asks again.
      if (info.ino !== entry.ino || info.size !== entry.size || info.mtimeMs !== entry.mtimeMs) {
        res.destroy();
        return;
      }
      await pipeline(handle.createReadStream({ start, end, autoClose: false }), res);
    } catch {
      res.destroy();
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  #remember(path: string, entry: Entry): void {
    this.#forget(path);
    this.#cache.set(path, entry);
    this.#cachedBytes += entry.body?.length ?? 0;
    for (const [key, old] of this.#cache) {
      if (this.#cache.size <= CACHE_ENTRIES && this.#cachedBytes <= CACHE_BYTES) break;
      this.#forget(key, old);
    }
  }

  #forget(path: string, entry = this.#cache.get(path)): void {
    if (!entry) return;
    this.#cache.delete(path);
    this.#cachedBytes -= entry.body?.length ?? 0;
  }
}
