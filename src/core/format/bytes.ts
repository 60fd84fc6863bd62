// Little-endian readers and writers for the binary format. The reader never reads past its end: each
// read checks the remaining length first and throws the caller's error code.
import { type ErrorCode, SihlError } from '../errors.ts';

export class ByteWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  bytes(data: Uint8Array): this {
    this.#parts.push(data);
    this.#length += data.length;
    return this;
  }

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }

  u16(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw new RangeError(`not a u16 value: ${value}`);
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    return this.bytes(b);
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`not a u32 value: ${value}`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value, true);
    return this.bytes(b);
  }

  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64 value: ${value}`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
    return this.bytes(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

export class ByteReader {
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #code: ErrorCode;
  readonly #what: string;
  #offset = 0;

  constructor(data: Uint8Array, code: ErrorCode, what: string) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.#code = code;
    this.#what = what;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#data.length - this.#offset;
  }

  fail(message: string): never {
    throw new SihlError(this.#code, `${this.#what}: ${message} (at byte ${this.#offset})`);
  }

  #take(length: number): number {
    if (length > this.remaining) this.fail(`needs ${length} more bytes, has ${this.remaining}`);
    const at = this.#offset;
    this.#offset += length;
    return at;
  }

  bytes(length: number): Uint8Array {
    const at = this.#take(length);
    return this.#data.subarray(at, at + length);
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  /** The byte `ahead` bytes from here, without moving; fails like a read when it is not there. */
  peekU8(ahead: number): number {
    if (ahead >= this.remaining) this.fail(`needs ${ahead + 1} more bytes, has ${this.remaining}`);
    return this.#view.getUint8(this.#offset + ahead);
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  /** Values above 2^53 - 1 are refused as over the limit: no sihl size comes near that. */
  u64(): number {
    const at = this.#take(8);
    const value = this.#view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `${this.#what}: 64-bit value ${value} is above 2^53 - 1 (at byte ${at})`,
      );
    }
    return Number(value);
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function fromHex(text: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/i.test(text))
    throw new SihlError('USAGE', `not hexadecimal: ${text.slice(0, 16)}…`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export const utf8 = new TextEncoder();
/** Strict: invalid UTF-8 throws, and a byte-order mark is kept (so the field patterns refuse it). */
export const fromUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
