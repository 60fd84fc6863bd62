// Downloading an image into the staging slot, in Range requests of a few sectors, each sector written
// to flash as soon as it is complete. Progress (bytes in flash, and the target's SHA-256) is saved after
// every piece and whenever a request fails, so after a dropped connection or a reboot the download goes
// on from the last whole sector. tuf-js's downloadTarget cannot do this: it fetches a whole file into a
// temporary file and cannot resume or write to flash; the agent checks length and SHA-256 against the
// target info tuf-js verified instead (TUF client workflow 5.7.3).
import { equalBytes, Sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { fromHex, toHex } from '../../core/format/bytes.ts';
import { ERASED } from '../flash/flash.ts';
import type { Staging } from './staging.ts';
import type { DownloadProgress } from './state.ts';
import type { Transport } from './transport.ts';

export interface DownloadPlan {
  readonly target: string;
  readonly version: string;
  /** Path of the image on the server (consistent snapshots: its SHA-256 before the name). */
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
  /** Staged right after the image; empty for an unencrypted image. */
  readonly envelope: Uint8Array;
}

export interface DownloadOptions {
  readonly client: Transport;
  readonly staging: Staging;
  readonly plan: DownloadPlan;
  /** What an earlier attempt left; used only if it is for the same image and envelope. */
  readonly progress: DownloadProgress | undefined;
  /** Makes the flash written so far durable, then records the progress. */
  readonly save: (progress: DownloadProgress | undefined) => Promise<void>;
  readonly pieceBytes: number;
  readonly onProgress?: (done: number, total: number) => void;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

/** Where to start: an earlier attempt's progress if it is for this very image and envelope. */
function resumeFrom(plan: DownloadPlan, progress: DownloadProgress | undefined, sectorSize: number): number {
  if (
    !progress ||
    progress.sha256 !== plan.sha256 ||
    progress.length !== plan.length ||
    progress.envelope !== toHex(plan.envelope) ||
    !Number.isSafeInteger(progress.written) ||
    progress.written < 0 ||
    progress.written > plan.length
  ) {
    return 0;
  }
  // Only whole sectors count: the bytes after the last one recorded may be torn.
  return progress.written === plan.length ? plan.length : progress.written - (progress.written % sectorSize);
}

/** Fills staging with the image and its envelope and checks the image's length and SHA-256. */
export async function downloadToStaging(options: DownloadOptions): Promise<void> {
  const { staging, plan } = options;
  const { size, sectorSize, writeSize } = staging.stagingGeometry;
  const total = plan.length + plan.envelope.length;
  if (plan.length <= 0 || total > size) {
    throw new SihlError('LIMIT_EXCEEDED', `${plan.target} (${total} bytes) does not fit the staging slot`);
  }
  const record = (written: number): DownloadProgress => ({
    target: plan.target,
    version: plan.version,
    sha256: plan.sha256,
    length: plan.length,
    written,
    envelope: toHex(plan.envelope),
  });
  const piece = Math.max(sectorSize, Math.ceil(options.pieceBytes / sectorSize) * sectorSize);
  let done = resumeFrom(plan, options.progress, sectorSize);
  if (done < plan.length) {
    // Bytes past the last recorded sector may be a torn write or another image: erase them.
    staging.eraseStaging(done, total);
    await options.save(record(done));
  }
  const buffer = new Uint8Array(sectorSize);
  let filled = 0;
  const flush = (last: boolean) => {
    const length = last ? Math.ceil(filled / writeSize) * writeSize : sectorSize;
    buffer.fill(ERASED, filled, length);
    staging.writeStaging(done, buffer.subarray(0, length));
    done += sectorSize;
    filled = 0;
  };
  const take = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, sectorSize - filled);
      buffer.set(bytes.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === sectorSize) flush(false);
    }
  };
  while (done < plan.length) {
    const start = done;
    const end = Math.min(start + piece, plan.length) - 1;
    try {
      await fetchRange(options, start, end, (chunk) => {
        take(chunk);
        options.onProgress?.(done + filled, plan.length);
      });
    } catch (error) {
      filled = 0; // a part of a sector: fetched again next time
      await options.save(record(done));
      throw error;
    }
    if (done + filled === plan.length) {
      // The image's last bytes and the envelope after them share a sector: they are written together.
      take(plan.envelope);
      if (filled > 0) flush(true);
      done = plan.length;
    }
    await options.save(record(done));
  }
  await checkStaged(options);
}

/** One range of the image from the server, each chunk handed to `take` as it arrives. */
async function fetchRange(
  options: DownloadOptions,
  start: number,
  end: number,
  take: (chunk: Uint8Array) => void,
): Promise<void> {
  const { client, plan } = options;
  const response = await client.get({
    path: plan.path,
    range: { start, end },
    limit: end - start + 1,
    onHeaders: (status, headers) => checkRange(status, headers['content-range'], start, end, plan),
    onData: take,
  });
  if (response.status !== 200 && response.status !== 206) {
    throw new SihlError('SERVER_ERROR', `GET ${plan.path}: HTTP ${response.status}`);
  }
  if (response.received !== end - start + 1) {
    throw new SihlError(
      'NETWORK_ERROR',
      `GET ${plan.path}: ${response.received} bytes, not ${end - start + 1}`,
    );
  }
}

/** The whole image as staged, read back and hashed against the SHA-256 the targets role signed. */
async function checkStaged(options: DownloadOptions): Promise<void> {
  const { staging, plan } = options;
  const { sectorSize } = staging.stagingGeometry;
  const digest = new Sha256();
  for (let at = 0; at < plan.length; at += sectorSize) {
    digest.update(staging.readStaging(at, Math.min(sectorSize, plan.length - at)));
  }
  if (!equalBytes(digest.digest(), fromHex(plan.sha256))) {
    // TUF 5.7.3: the bytes are not those the targets role signed for; start afresh next time.
    await options.save(undefined);
    throw new SihlError(
      'TARGET_MISMATCH',
      `${plan.target} does not match its SHA-256 in the targets metadata`,
    );
  }
}

/** A 206 for exactly the range asked, of an image of the expected length; a 200 only for the whole. */
function checkRange(
  status: number,
  contentRange: string | undefined,
  start: number,
  end: number,
  plan: DownloadPlan,
): void {
  if (status === 200 && start === 0 && end === plan.length - 1) return;
  if (status !== 206) return; // not a body we stream; the caller turns the status into an error
  const m = CONTENT_RANGE.exec(contentRange ?? '');
  if (!m || Number(m[1]) !== start || Number(m[2]) !== end || Number(m[3]) !== plan.length) {
    throw new SihlError(
      'SERVER_ERROR',
      `GET ${plan.path}: Content-Range "${contentRange}" is not bytes ${start}-${end}/${plan.length}`,
    );
  }
}
