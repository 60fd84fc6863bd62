// Writing images to disk at known offsets, inside core/fs.ts writeAtomically, so a crash or an error
// never leaves a half-written image under the final name.
import type { FileHandle } from 'node:fs/promises';

const BUFFER_BYTES = 1024 * 1024;

/** Collects small writes into 1 MiB positional writes. */
export class PositionalWriter {
  readonly #handle: FileHandle;
  #position: number;
  readonly #buffer = new Uint8Array(BUFFER_BYTES);
  #filled = 0;

  constructor(handle: FileHandle, position: number) {
    this.#handle = handle;
    this.#position = position;
  }

  async write(data: Uint8Array): Promise<void> {
    if (data.length >= BUFFER_BYTES) {
      await this.flush();
      await this.#writeAt(data);
      return;
    }
    if (this.#filled + data.length > BUFFER_BYTES) await this.flush();
    this.#buffer.set(data, this.#filled);
    this.#filled += data.length;
  }

  async flush(): Promise<void> {
    if (this.#filled === 0) return;
    const data = this.#buffer.subarray(0, this.#filled);
    this.#filled = 0;
    await this.#writeAt(data); // the write has completed, so the buffer can be filled again
  }

  async #writeAt(data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#handle.write(data, done, data.length - done, this.#position);
      done += bytesWritten;
      this.#position += bytesWritten;
    }
  }
}
