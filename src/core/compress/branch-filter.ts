// Branch-call filters for ARM code (the BCJ idea of the LZMA SDK and MCUboot's LZMA2 option): a BL
// instruction's relative target is rewritten as an absolute address before compressing, so calls to
// the same function become identical byte strings, and rewritten back after decompressing. The filter
// only looks at bits it never changes, so decoding makes the same decisions as encoding.
// Streaming: up to 3 bytes are held back between calls, since an instruction can straddle two chunks.
import type { BranchFilter } from '../format/manifest.ts';

type Convert = (data: Uint8Array, position: number, end: number, encode: boolean) => number;

/** Thumb-2 BL: two halfwords 11110xxx xxxxxxxx, 11111xxx xxxxxxxx, 2-byte aligned; a 22-bit offset in halfwords. */
const thumb: Convert = (d, position, end, encode) => {
  let i = 0;
  for (; i + 4 <= end; i += 2) {
    const b1 = d[i + 1] as number;
    const b3 = d[i + 3] as number;
    if ((b1 & 0xf8) !== 0xf0 || (b3 & 0xf8) !== 0xf8) continue;
    const src = (((b1 & 7) << 19) | ((d[i] as number) << 11) | ((b3 & 7) << 8) | (d[i + 2] as number)) << 1;
    const pc = position + i + 4;
    const dest = ((encode ? pc + src : src - pc) >>> 1) & 0x3fffff;
    d[i + 1] = 0xf0 | ((dest >>> 19) & 7);
    d[i] = (dest >>> 11) & 0xff;
    d[i + 3] = 0xf8 | ((dest >>> 8) & 7);
    d[i + 2] = dest & 0xff;
    i += 2;
  }
  return i;
};

/** ARM BL (condition "always"): 4-byte aligned, top byte 0xEB, a 24-bit offset in words. */
const arm: Convert = (d, position, end, encode) => {
  let i = 0;
  for (; i + 4 <= end; i += 4) {
    if (d[i + 3] !== 0xeb) continue;
    const src = (((d[i + 2] as number) << 16) | ((d[i + 1] as number) << 8) | (d[i] as number)) << 2;
    const pc = position + i + 8;
    const dest = ((encode ? pc + src : src - pc) >>> 2) & 0xffffff;
    d[i + 2] = (dest >>> 16) & 0xff;
    d[i + 1] = (dest >>> 8) & 0xff;
    d[i] = dest & 0xff;
  }
  return i;
};

const converters: Record<Exclude<BranchFilter, 'none'>, Convert> = { thumb, arm };

export class BranchConverter {
  readonly #convert: Convert | undefined;
  readonly #encode: boolean;
  readonly #carry = new Uint8Array(3);
  #carried = 0;
  #position = 0;
  /** Reused between calls so a long stream makes no garbage; grows to the largest chunk seen. */
  #work = new Uint8Array(0);

  constructor(filter: BranchFilter, direction: 'encode' | 'decode') {
    this.#convert = filter === 'none' ? undefined : converters[filter];
    this.#encode = direction === 'encode';
  }

  /**
   * Converts what can be converted. The input is not modified; the result is valid until the next
   * call, so a caller must be done with it (written, hashed) before passing the next chunk.
   */
  update(chunk: Uint8Array): Uint8Array {
    if (!this.#convert) return chunk;
    const length = this.#carried + chunk.length;
    if (this.#work.length < length) this.#work = new Uint8Array(length);
    const data = this.#work;
    data.set(this.#carry.subarray(0, this.#carried));
    data.set(chunk, this.#carried);
    const done = this.#convert(data, this.#position, length, this.#encode);
    this.#position += done;
    this.#carried = length - done;
    this.#carry.set(data.subarray(done, length));
    return data.subarray(0, done);
  }

  /** The held-back tail: fewer than 4 bytes, never converted. */
  finish(): Uint8Array {
    const rest = this.#carry.slice(0, this.#carried);
    this.#carried = 0;
    return rest;
  }
}

/** Applies a filter to a whole buffer (used to pick the best filter on a sample). */
export function convertAll(
  data: Uint8Array,
  filter: BranchFilter,
  direction: 'encode' | 'decode',
): Uint8Array {
  const converter = new BranchConverter(filter, direction);
  const head = converter.update(data).slice();
  return Buffer.concat([head, converter.finish()]);
}
