// LZMA2 (docs/FORMAT.md §Compression, algorithm 2): a raw LZMA2 stream, no .xz container, its
// dictionary 2^windowLog bytes, so a bootloader's decoder needs a known, small RAM (xz-embedded in the
// C bootloader). Encoder and decoder are liblzma through the lzma-native package, driven synchronously
// through its native stream: its JavaScript wrapper skips zero bytes after a stream ends and starts
// a new one on anything else, which a strict decoder must refuse instead.

import { createRequire } from 'node:module';
import { Transform } from 'node:stream';
import { SihlError } from '../errors.ts';

interface NativeStream {
  rawEncoder(options: { filters: readonly object[] }): void;
  rawDecoder(options: { filters: readonly object[] }): void;
  code(input: Uint8Array | null, async: boolean): void;
  bufferHandler: (
    buffer: Buffer | null | undefined,
    processed: number | undefined,
    error: Error | null | undefined,
    totalIn: number | null,
  ) => void;
  resetUnderlying(): void;
}

interface LzmaNative {
  Stream: new () => NativeStream;
  FILTER_LZMA2: string;
  MODE_NORMAL: number;
  MF_BT4: number;
}

const lzma = createRequire(import.meta.url)('lzma-native') as LzmaNative;

/** Input handed to the decoder at a time: bounds the output one call can make (about 7,000:1). */
const DECODE_STEP = 1024;

/** The encoder's settings: xz -9e's match finder and effort, at the signed dictionary size. */
function encoderFilter(windowLog: number): object {
  return {
    id: lzma.FILTER_LZMA2,
    options: {
      dictSize: 2 ** windowLog,
      lc: 3,
      lp: 0,
      pb: 2,
      mode: lzma.MODE_NORMAL,
      niceLen: 273,
      mf: lzma.MF_BT4,
      depth: 512,
    },
  };
}

function decoderFilter(windowLog: number): object {
  return { id: lzma.FILTER_LZMA2, options: { dictSize: 2 ** windowLog } };
}

/** Compresses in one call (tests, sizes of samples). */
export function lzma2Compress(data: Uint8Array, windowLog: number): Uint8Array {
  const out: Buffer[] = [];
  const stream = new lzma.Stream();
  stream.rawEncoder({ filters: [encoderFilter(windowLog)] });
  let failure: Error | null = null;
  stream.bufferHandler = (buffer, _processed, error) => {
    if (error) failure = error;
    else if (buffer) out.push(buffer);
  };
  stream.code(Buffer.from(data.buffer, data.byteOffset, data.byteLength), false);
  stream.code(null, false);
  if (failure) throw new SihlError('INTERNAL', 'LZMA2 encoder failed', { cause: failure });
  return Buffer.concat(out);
}

/** A Transform for the pack pass: firmware in, raw LZMA2 out. */
export function lzma2Compressor(windowLog: number): Transform {
  const stream = new lzma.Stream();
  stream.rawEncoder({ filters: [encoderFilter(windowLog)] });
  let pending: Buffer[] = [];
  let failure: Error | null = null;
  stream.bufferHandler = (buffer, _processed, error) => {
    if (error) failure = error;
    else if (buffer) pending.push(buffer);
  };
  const drain = (transform: Transform) => {
    for (const b of pending) transform.push(b);
    pending = [];
    return failure;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      stream.code(chunk, false);
      callback(drain(this));
    },
    flush(callback) {
      stream.code(null, false);
      callback(drain(this));
    },
  });
}

/**
 * A strict, synchronous raw LZMA2 decoder: refuses bad data, a stream that does not end where the
 * compressed bytes end, and any byte after its end marker (all DECOMPRESS_FAILED).
 */
export class Lzma2Decoder {
  readonly #stream = new lzma.Stream();
  #out: Buffer[] = [];
  #error: Error | null = null;
  #ended = false;
  #fed = 0;
  #consumedAtEnd = 0;

  constructor(windowLog: number) {
    this.#stream.rawDecoder({ filters: [decoderFilter(windowLog)] });
    this.#stream.bufferHandler = (buffer, _processed, error, totalIn) => {
      if (error) this.#error = error;
      else if (buffer) this.#out.push(buffer);
      else if (buffer === null && !this.#ended) {
        // The end marker: liblzma reports how much input it took, and drops the rest silently.
        this.#ended = true;
        this.#consumedAtEnd = totalIn ?? 0;
      }
    };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Decodes `input`, handing each piece of output to `take` before reading further input. */
  update(input: Uint8Array, take: (output: Uint8Array) => void): void {
    for (let at = 0; at < input.length; at += DECODE_STEP) {
      if (this.#ended) {
        throw new SihlError('DECOMPRESS_FAILED', 'compressed bytes follow the end of the LZMA2 stream');
      }
      const piece = input.subarray(at, Math.min(at + DECODE_STEP, input.length));
      this.#fed += piece.length;
      this.#stream.code(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength), false);
      this.#flush(take);
      if (this.#ended && this.#consumedAtEnd !== this.#fed) {
        throw new SihlError('DECOMPRESS_FAILED', 'compressed bytes follow the end of the LZMA2 stream');
      }
    }
  }

  /** After the last compressed byte: the stream must have ended exactly there. */
  finish(): void {
    if (!this.#ended)
      throw new SihlError('DECOMPRESS_FAILED', 'the LZMA2 stream ends without its end marker');
  }

  #flush(take: (output: Uint8Array) => void): void {
    const out = this.#out;
    this.#out = [];
    for (const b of out) take(b);
    if (this.#error) {
      const cause = this.#error;
      throw new SihlError('DECOMPRESS_FAILED', `LZMA2 stream is malformed: ${cause.message}`, { cause });
    }
  }
}
