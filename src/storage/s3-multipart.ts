// S3 multipart uploads for the S3 blob store (s3-blob-store.ts): the source cut into 8 MiB parts, four in
// flight, the object completed only after every part arrived and aborted on any failure, so an
// interrupted upload leaves nothing visible (the source's error is the one reported, not the abort's).
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

/** S3's smallest part is 5 MiB; 8 MiB parts, 4 in flight, keep memory at 32 MiB per upload. */
export const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;

export interface PutParams {
  Bucket: string;
  Key: string;
  ContentType: string;
  CacheControl: string | undefined;
  IfNoneMatch: string | undefined;
}

/** The source cut into parts of PART_BYTES (the last one shorter); chunks are copied, so callers may reuse them. */
export async function* partsOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let part = new Uint8Array(PART_BYTES);
  let filled = 0;
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, PART_BYTES - filled);
      part.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === PART_BYTES) {
        yield part;
        part = new Uint8Array(PART_BYTES);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

/** The parts of one upload in flight; the first failure is kept and stops the sending. */
class PartUploads {
  readonly #client: S3Client;
  readonly #params: PutParams;
  readonly #uploadId: string | undefined;
  readonly #checksums: boolean;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  readonly done: CompletedPart[] = [];
  readonly inFlight = new Set<Promise<unknown>>();
  failure: { error: unknown } | undefined;
  #sent = 0;
  #number = 0;

  constructor(
    client: S3Client,
    params: PutParams,
    uploadId: string | undefined,
    checksums: boolean,
    onProgress?: (bytes: number) => void,
  ) {
    this.#client = client;
    this.#params = params;
    this.#uploadId = uploadId;
    this.#checksums = checksums;
    this.#onProgress = onProgress;
  }

  /** Sends one part once there is room among those in flight. */
  async send(body: Uint8Array): Promise<void> {
    if (this.inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inFlight);
    const partNumber = ++this.#number;
    const { Bucket, Key } = this.#params;
    const command = new UploadPartCommand({
      ...{ Bucket, Key, UploadId: this.#uploadId, PartNumber: partNumber, Body: body },
      ContentLength: body.length,
      ...(this.#checksums ? { ChecksumAlgorithm: 'CRC32' } : {}),
    });
    const upload: Promise<unknown> = this.#client
      .send(command)
      .then((response) => {
        this.done.push({
          PartNumber: partNumber,
          ETag: response.ETag,
          ChecksumCRC32: response.ChecksumCRC32,
        });
        this.#sent += body.length;
        this.#onProgress?.(this.#sent);
      })
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.inFlight.delete(upload));
    this.inFlight.add(upload);
  }

  /** Every part, in order, once all arrived; throws the first failure. */
  async finish(): Promise<CompletedPart[]> {
    await Promise.all(this.inFlight);
    if (this.failure !== undefined) throw this.failure.error;
    return this.done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
  }
}

/** A multipart upload of `head` and then what `parts` yields. */
export async function multipartUpload(
  client: S3Client,
  params: PutParams,
  head: readonly Uint8Array[],
  parts: AsyncIterator<Uint8Array>,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  // With integrity checks on (AWS), parts carry CRC32s that the completion must repeat.
  const checksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  const { IfNoneMatch, ...createParams } = params;
  const created = await client.send(
    new CreateMultipartUploadCommand({
      ...createParams,
      ...(checksums ? { ChecksumAlgorithm: 'CRC32' } : {}),
    }),
  );
  const { Bucket, Key } = params;
  const UploadId = created.UploadId;
  const uploads = new PartUploads(client, params, UploadId, checksums, onProgress);
  try {
    for (const body of head) await uploads.send(body);
    for (
      let next = await parts.next();
      !next.done && uploads.failure === undefined;
      next = await parts.next()
    )
      await uploads.send(next.value);
    const done = await uploads.finish();
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        IfNoneMatch,
        MultipartUpload: { Parts: done },
      }),
    );
  } catch (error) {
    await Promise.allSettled(uploads.inFlight);
    await parts.return?.(undefined);
    // Parts are never visible on their own; a server that cannot abort (s3rver) keeps them out of sight,
    // and on S3 a lifecycle rule removes incomplete uploads that an abort missed (docs/CLOUD.md).
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => {});
    throw error;
  }
}
