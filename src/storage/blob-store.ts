// The blob store port: where a release repository is published and from where devices (directly, or
// through sihl's HTTPS server) read it. Adapters: a local folder, Azure Blob Storage, S3. Every adapter
// makes an object visible only once it is whole, so a device never reads a half-uploaded image.
import type { Readable } from 'node:stream';
import { SihlError } from '../core/errors.ts';

/** What to upload: bytes in memory, a file streamed from disk (large images), or a stream of chunks. */
export type BlobSource = Uint8Array | { readonly path: string } | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /** Stored as the object's Content-Type; defaults to application/octet-stream. */
  readonly contentType?: string;
  /** Stored as the object's Cache-Control, e.g. `no-cache` for timestamp.json behind a CDN. */
  readonly cacheControl?: string;
  /** `'*'`: refuse (FILE_EXISTS) if an object already exists under the key. */
  readonly ifNoneMatch?: '*';
  /** Called now and then with the number of bytes sent so far (for a progress bar). */
  readonly onProgress?: (bytesSent: number) => void;
}

export interface BlobInfo {
  readonly key: string;
  readonly size: number;
  /** Opaque, quoted as in HTTP; changes whenever the content is replaced. */
  readonly etag: string;
  /** Absent from listings of stores that do not list it (S3). */
  readonly contentType?: string;
}

/** Bytes `start` to `end`, both inclusive as in HTTP's Range header; without `end`, to the last byte. */
export interface ByteRange {
  readonly start: number;
  readonly end?: number;
}

export interface GetOptions {
  readonly range?: ByteRange;
  /** An etag from an earlier head/get/put: if it is still current, the result is `not-modified`. */
  readonly ifNoneMatch?: string;
}

export type GetResult =
  | { readonly status: 'not-modified'; readonly etag: string }
  | {
      readonly status: 'ok';
      readonly info: BlobInfo;
      /** The bytes sent: the requested range clamped to the object, or the whole object. */
      readonly range: { readonly start: number; readonly end: number };
      /** Read it to the end or destroy it; an abandoned body holds a file or a connection open. */
      readonly body: Readable;
    };

export interface BlobStore {
  /** Stores the whole source under `key`, or nothing (an interrupted upload leaves no object behind). */
  put(key: string, source: BlobSource, options?: PutOptions): Promise<BlobInfo>;
  /** null when there is no object under `key`. A range starting past the end fails with RANGE_INVALID. */
  get(key: string, options?: GetOptions): Promise<GetResult | null>;
  head(key: string): Promise<BlobInfo | null>;
  /** Objects whose key starts with `prefix` (a plain string prefix, not only whole folders). */
  list(prefix?: string): AsyncIterable<BlobInfo>;
  /** Removes the object; a missing one is not an error. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Longest key accepted, in characters: below S3's and Azure's limits of 1,024 bytes with a prefix. */
export const BLOB_KEY_MAX_CHARS = 512;
const SEGMENT = /^[A-Za-z0-9_~+=@,-][A-Za-z0-9._~+=@,-]*$/;

/**
 * Checks a key: `/`-separated segments of URL-safe characters, none empty, `.` or `..`, none starting with
 * a dot (the local store keeps its temporary files under such names). The same keys work everywhere.
 */
export function checkBlobKey(key: string): string {
  const bad = (why: string) => new SihlError('USAGE', `invalid object key: ${why}`, { subject: key });
  if (key.length === 0) throw bad('empty');
  if (key.length > BLOB_KEY_MAX_CHARS) throw bad(`longer than ${BLOB_KEY_MAX_CHARS} characters`);
  for (const segment of key.split('/')) {
    if (!SEGMENT.test(segment))
      throw bad(
        `segment '${segment}' is empty, starts with a dot or has characters outside A-Z a-z 0-9 . _ ~ + = @ , -`,
      );
  }
  return key;
}

/** A list prefix: any start of a valid key (so it may end with `/` or in the middle of a segment). */
export function checkBlobPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const last = prefix.lastIndexOf('/');
  if (last >= 0) checkBlobKey(prefix.slice(0, last));
  const tail = prefix.slice(last + 1);
  if (tail !== '' && !SEGMENT.test(tail)) checkBlobKey(prefix);
  return prefix;
}

/** Checks a range before any request: whole non-negative numbers, `end` not before `start`. */
export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new SihlError('USAGE', `invalid byte range ${start}-${end ?? ''}`);
  }
}

export function rangeNotSatisfiable(key: string, start: number, size: number): SihlError {
  return new SihlError('RANGE_INVALID', `range starts at byte ${start}, but the object has ${size} bytes`, {
    subject: key,
  });
}

export function objectExists(key: string): SihlError {
  return new SihlError('FILE_EXISTS', 'an object already exists under this key', { subject: key });
}

/** The whole object in memory, refusing (LIMIT_EXCEEDED) one larger than `limit` while reading it. */
export async function readBlob(store: BlobStore, key: string, limit: number): Promise<Uint8Array | null> {
  const result = await store.get(key);
  if (result === null || result.status !== 'ok') return null;
  const { body, info } = result;
  if (info.size > limit) {
    body.destroy();
    throw new SihlError('LIMIT_EXCEEDED', `object is larger than the limit of ${limit} bytes`, {
      subject: key,
    });
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    length += chunk.length;
    if (length > limit) {
      body.destroy();
      throw new SihlError('LIMIT_EXCEEDED', `object is larger than the limit of ${limit} bytes`, {
        subject: key,
      });
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** An etag in its quoted HTTP form, whichever way a store's API hands it out. */
export function quoteEtag(etag: string | undefined): string {
  if (etag === undefined || etag === '') return '""';
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

/** The content type a release file gets when the caller names none. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** What a cloud store reports of an object, any part of which its SDK may leave out. */
export interface ReportedBlob {
  readonly size?: number | undefined;
  readonly etag?: string | undefined;
  readonly contentType?: string | undefined;
}

/** A blob's info from what a cloud store reports: a quoted ETag, the default content type when none. */
export function reportedInfo(key: string, reported: ReportedBlob): BlobInfo {
  return {
    key,
    size: reported.size ?? 0,
    etag: quoteEtag(reported.etag),
    contentType: reported.contentType ?? DEFAULT_CONTENT_TYPE,
  };
}

/** The whole object's size: from a ranged read's Content-Range "bytes START-END/SIZE", else the length. */
export function wholeSize(contentRange: string | undefined, length: number): number {
  return Number(/\/(\d+)$/.exec(contentRange ?? '')?.[1] ?? length);
}
