// Brotli (RFC 7932) through Node's zlib, with the window held to 2^windowLog bytes so that a decoder's
// RAM need is known before it starts. Quality 11 gives the smallest payload but runs near 0.6 MB/s, so
// large inputs default to quality 9 (docs/FORMAT.md §Compression).

import type { Transform } from 'node:stream';
import {
  type BrotliDecompress,
  brotliCompressSync,
  constants,
  createBrotliCompress,
  createBrotliDecompress,
} from 'node:zlib';
import { LIMITS } from '../limits.ts';

export const DEFAULT_WINDOW_LOG = LIMITS.windowLogMax;
/** Qualities 0 and 1 use a 2^18 window whatever LGWIN says. */
export const MIN_QUALITY = 2;
/** Inputs up to this size are compressed at quality 11 by default. */
export const BEST_QUALITY_UP_TO = 8 * 1024 * 1024;

/**
 * The environment variable that packs every image at quality 9 by default, the level used above 8 MiB:
 * the test suite sets it, as quality 11 costs it about a second per release (the images come out a few
 * percent larger, and they decode the same).
 */
export const TEST_QUICK_PACK_VARIABLE = 'SIHL_TEST_QUICK_PACK';

/** Quality 11 up to BEST_QUALITY_UP_TO, 9 above; 9 for every size when SIHL_TEST_QUICK_PACK=1. */
export function defaultQuality(
  size: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  return size <= BEST_QUALITY_UP_TO && env[TEST_QUICK_PACK_VARIABLE] !== '1' ? 11 : 9;
}

function params(quality: number, windowLog: number, sizeHint: number) {
  return {
    [constants.BROTLI_PARAM_QUALITY]: quality,
    [constants.BROTLI_PARAM_LGWIN]: windowLog,
    [constants.BROTLI_PARAM_LGBLOCK]: quality >= 10 ? 24 : 0,
    [constants.BROTLI_PARAM_SIZE_HINT]: Math.min(sizeHint, 2 ** 30),
  };
}

export function brotliCompressor(quality: number, windowLog: number, sizeHint: number): Transform {
  return createBrotliCompress({ params: params(quality, windowLog, sizeHint), chunkSize: 64 * 1024 });
}

export function brotliCompressedSize(data: Uint8Array, quality: number, windowLog: number): number {
  return brotliCompressSync(data, { params: params(quality, windowLog, data.length) }).length;
}

export function brotliDecompressor(): BrotliDecompress {
  return createBrotliDecompress({ chunkSize: 64 * 1024 });
}

/**
 * The window a Brotli stream declares in its first bits (RFC 7932 §9.1), or null when the bits are
 * not a valid window size. Read before decoding so a stream that asks for more RAM is refused.
 */
export function declaredWindowLog(firstByte: number): number | null {
  if ((firstByte & 1) === 0) return 16;
  const n = (firstByte >>> 1) & 7;
  if (n !== 0) return 17 + n;
  const m = (firstByte >>> 4) & 7;
  if (m === 1) return null; // the large-window extension, not plain RFC 7932
  return m === 0 ? 17 : 8 + m;
}
