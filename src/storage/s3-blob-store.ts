// The blob store on S3 or an S3-compatible server (one bucket, optionally under a key prefix). Bytes in
// memory, and streams that fit in one part, go up in one PUT; larger ones in a multipart upload that is
// completed only at the end and aborted on failure, so an interrupted upload leaves no object visible.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SihlError } from '../core/errors.ts';
import type { BlobInfo, BlobSource, BlobStore, GetOptions, GetResult, PutOptions } from './blob-store.ts';
// The contract every blob store keeps (key and range checks, answers), shared by the three stores.
import * as contract from './blob-store.ts';
import { multipartUpload, type PutParams, partsOf } from './s3-multipart.ts';
import { storeError } from './store-errors.ts';

export interface S3BlobStoreOptions {
  /** Configured with `requestChecksumCalculation` and `responseChecksumValidation` as the server needs. */
  readonly client: S3Client;
  readonly bucket: string;
  /** Keys are stored under `prefix/`; empty for the bucket's root. */
  readonly prefix?: string;
  /** Whether close() destroys the client (true when the store made it). */
  readonly ownsClient?: boolean;
}

interface AwsErrorLike {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as AwsErrorLike | undefined)?.$metadata?.httpStatusCode;
}

class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #ownsClient: boolean;

  constructor(options: S3BlobStoreOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ? `${contract.checkBlobKey(options.prefix)}/` : '';
    this.#ownsClient = options.ownsClient ?? false;
  }

  #key(key: string): string {
    return this.#prefix + contract.checkBlobKey(key);
  }

  #error(key: string, error: unknown): SihlError {
    const like = error as AwsErrorLike | undefined;
    // Only SDK errors carry $metadata; a source that failed keeps its own message.
    const code = like?.code ?? (like?.$metadata === undefined ? undefined : like?.name);
    return storeError(key, error, statusOf(error), code);
  }

  async put(key: string, source: BlobSource, options: PutOptions = {}): Promise<BlobInfo> {
    const params: PutParams = {
      Bucket: this.#bucket,
      Key: this.#key(key),
      ContentType: options.contentType ?? contract.DEFAULT_CONTENT_TYPE,
      CacheControl: options.cacheControl,
      IfNoneMatch: options.ifNoneMatch,
    };
    // S3 itself refuses the write atomically (412); some compatible servers ignore If-None-Match on
    // writes, so a look first catches the common case there too.
    if (options.ifNoneMatch === '*' && (await this.head(key)) !== null) throw contract.objectExists(key);
    try {
      if (source instanceof Uint8Array) {
        await this.#client.send(
          new PutObjectCommand({ ...params, Body: source, ContentLength: source.length }),
        );
        options.onProgress?.(source.length);
      } else {
        const chunks = 'path' in source ? createReadStream(source.path) : source;
        await this.#putParts(params, chunks, options.onProgress);
      }
    } catch (error) {
      const status = statusOf(error);
      if (options.ifNoneMatch === '*' && (status === 412 || status === 409)) throw contract.objectExists(key);
      throw this.#error(key, error);
    }
    const info = await this.head(key);
    if (info === null)
      throw this.#error(key, Object.assign(new Error('missing'), { code: 'UploadVanished' }));
    return info;
  }

  /** One PUT if the source fits in a part; otherwise a multipart upload (s3-multipart.ts). */
  async #putParts(
    params: PutParams,
    chunks: AsyncIterable<Uint8Array>,
    onProgress?: (bytes: number) => void,
  ) {
    const parts = partsOf(chunks)[Symbol.asyncIterator]();
    const first = await parts.next();
    const firstPart = first.done ? new Uint8Array(0) : first.value;
    const second = first.done ? first : await parts.next();
    if (second.done) {
      await this.#client.send(
        new PutObjectCommand({ ...params, Body: firstPart, ContentLength: firstPart.length }),
      );
      onProgress?.(firstPart.length);
      return;
    }
    await multipartUpload(this.#client, params, [firstPart, second.value], parts, onProgress);
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | null> {
    contract.checkRange(options.range);
    const { range } = options;
    try {
      const response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(key),
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end ?? ''}`,
          IfNoneMatch: options.ifNoneMatch,
        }),
      );
      const length = response.ContentLength ?? 0;
      const size = contract.wholeSize(response.ContentRange, length);
      const start = range?.start ?? 0;
      const body = response.Body instanceof Readable ? response.Body : Readable.from([]);
      return {
        status: 'ok',
        info: contract.reportedInfo(key, { size, etag: response.ETag, contentType: response.ContentType }),
        range: { start, end: start + length - 1 },
        body,
      };
    } catch (error) {
      const status = statusOf(error);
      if (status === 304) return { status: 'not-modified', etag: options.ifNoneMatch ?? '' };
      if (status === 404) return null;
      if (status === 416 && range !== undefined) {
        const info = await this.head(key);
        if (info === null) return null;
        throw contract.rangeNotSatisfiable(key, range.start, info.size);
      }
      throw this.#error(key, error);
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const response = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }),
      );
      const { ContentLength: size, ETag: etag, ContentType: contentType } = response;
      return contract.reportedInfo(key, { size, etag, contentType });
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.#error(key, error);
    }
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    contract.checkBlobPrefix(prefix);
    try {
      const pages = paginateListObjectsV2(
        { client: this.#client },
        { Bucket: this.#bucket, Prefix: this.#prefix + prefix },
      );
      for await (const page of pages) {
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined) continue;
          yield {
            key: item.Key.slice(this.#prefix.length),
            size: item.Size ?? 0,
            etag: contract.quoteEtag(item.ETag),
          };
        }
      }
    } catch (error) {
      throw this.#error(prefix || '/', error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
    } catch (error) {
      if (statusOf(error) !== 404) throw this.#error(key, error);
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }
}

export function openS3BlobStore(options: S3BlobStoreOptions): BlobStore {
  return new S3BlobStore(options);
}
