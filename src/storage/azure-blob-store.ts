// The blob store on Azure Blob Storage (one container, optionally under a key prefix). Small uploads are
// one Put Blob; large ones are staged as blocks and committed in one Put Block List at the end, so an
// interrupted upload leaves only uncommitted blocks, which readers never see and Azure discards.
import { Readable } from 'node:stream';
import type { BlobDownloadResponseParsed, ContainerClient } from '@azure/storage-blob';
import { SihlError } from '../core/errors.ts';
import type { BlobInfo, BlobSource, BlobStore, GetOptions, GetResult, PutOptions } from './blob-store.ts';
// The contract every blob store keeps (key and range checks, answers), shared by the three stores.
import * as contract from './blob-store.ts';
import { storeError } from './store-errors.ts';

/** Above this, files and buffers go up in blocks; every upload of a stream does. */
const SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024;
const BLOCK_BYTES = 4 * 1024 * 1024;
const CONCURRENCY = 4;

export interface AzureBlobStoreOptions {
  readonly container: ContainerClient;
  /** Keys are stored under `prefix/`; empty for the container's root. */
  readonly prefix?: string;
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
}

function statusOf(error: unknown): number | undefined {
  return (error as RestErrorLike | undefined)?.statusCode;
}

function sourceStream(source: AsyncIterable<Uint8Array>): Readable {
  return source instanceof Readable ? source : Readable.from(source, { objectMode: false });
}

class AzureBlobStore implements BlobStore {
  readonly #container: ContainerClient;
  readonly #prefix: string;

  constructor(options: AzureBlobStoreOptions) {
    this.#container = options.container;
    this.#prefix = options.prefix ? `${contract.checkBlobKey(options.prefix)}/` : '';
  }

  #name(key: string): string {
    return this.#prefix + contract.checkBlobKey(key);
  }

  #error(key: string, error: unknown): SihlError {
    return storeError(key, error, statusOf(error), (error as RestErrorLike | undefined)?.code);
  }

  async put(key: string, source: BlobSource, options: PutOptions = {}): Promise<BlobInfo> {
    const client = this.#container.getBlockBlobClient(this.#name(key));
    const common = {
      blobHTTPHeaders: {
        blobContentType: options.contentType ?? contract.DEFAULT_CONTENT_TYPE,
        blobCacheControl: options.cacheControl,
      },
      conditions: options.ifNoneMatch === '*' ? { ifNoneMatch: '*' } : undefined,
      onProgress:
        options.onProgress &&
        ((progress: { loadedBytes: number }) => options.onProgress?.(progress.loadedBytes)),
    };
    const parallel = {
      ...common,
      blockSize: BLOCK_BYTES,
      maxSingleShotSize: SINGLE_PUT_MAX_BYTES,
      concurrency: CONCURRENCY,
    };
    try {
      if (source instanceof Uint8Array) {
        await client.uploadData(source, parallel);
      } else if ('path' in source) {
        await client.uploadFile(source.path, parallel);
      } else {
        await client.uploadStream(sourceStream(source), BLOCK_BYTES, CONCURRENCY, common);
      }
    } catch (error) {
      const status = statusOf(error);
      if (options.ifNoneMatch === '*' && (status === 409 || status === 412)) throw contract.objectExists(key);
      throw this.#error(key, error);
    }
    const info = await this.head(key);
    if (info === null)
      throw new SihlError('STORE_UNAVAILABLE', 'the uploaded object is not there', { subject: key });
    return info;
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | null> {
    contract.checkRange(options.range);
    const client = this.#container.getBlobClient(this.#name(key));
    const { range } = options;
    let response: BlobDownloadResponseParsed;
    try {
      response = await client.download(
        range?.start ?? 0,
        range?.end === undefined ? undefined : range.end - range.start + 1,
        { conditions: options.ifNoneMatch === undefined ? undefined : { ifNoneMatch: options.ifNoneMatch } },
      );
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
    if (response._response.status === 304) {
      return { status: 'not-modified', etag: options.ifNoneMatch ?? '' };
    }
    const body = response.readableStreamBody;
    const length = response.contentLength ?? 0;
    const size = contract.wholeSize(response.contentRange, length);
    const start = range?.start ?? 0;
    // Azure answers 416 here; Azurite an empty 206.
    if (range !== undefined && start >= size) {
      body?.resume();
      throw contract.rangeNotSatisfiable(key, start, size);
    }
    return {
      status: 'ok',
      info: contract.reportedInfo(key, { size, etag: response.etag, contentType: response.contentType }),
      range: { start, end: start + length - 1 },
      body: body ? (body as Readable) : Readable.from([]),
    };
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const properties = await this.#container.getBlobClient(this.#name(key)).getProperties();
      const { contentLength: size, etag, contentType } = properties;
      return contract.reportedInfo(key, { size, etag, contentType });
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.#error(key, error);
    }
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    contract.checkBlobPrefix(prefix);
    try {
      for await (const item of this.#container.listBlobsFlat({ prefix: this.#prefix + prefix })) {
        const key = item.name.slice(this.#prefix.length);
        const { contentLength: size, etag, contentType } = item.properties;
        yield contract.reportedInfo(key, { size, etag, contentType });
      }
    } catch (error) {
      throw this.#error(prefix || '/', error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#container.getBlobClient(this.#name(key)).deleteIfExists();
    } catch (error) {
      throw this.#error(key, error);
    }
  }

  async close(): Promise<void> {}
}

export function openAzureBlobStore(options: AzureBlobStoreOptions): BlobStore {
  return new AzureBlobStore(options);
}
