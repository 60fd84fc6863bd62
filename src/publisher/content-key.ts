// A release's content key, opened once per use case: `release publish` unpacks the image with it in the
// gate and seals it into envelopes, and its file (Argon2id) is derived once for both, its passphrase
// asked once. Each user gets a copy to wipe; the opened key is wiped when the use case ends (`using`).
import { wipe } from '../core/crypto/index.ts';
import { readSmallFile } from '../core/fs.ts';
import { openContentKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';

export interface OpenedContentKey {
  readonly key: Uint8Array;
  /** The manifest binding the key was made for (docs/FORMAT.md §Envelopes). */
  readonly binding: Uint8Array;
}

/** Hands out a copy of the content key, which the caller wipes. */
export type ContentKeySource = () => Promise<OpenedContentKey>;

export class ContentKeyOnce implements Disposable {
  readonly #path: string;
  readonly #passphrase: () => Promise<string>;
  #opened: Promise<OpenedContentKey> | undefined;
  #key: Uint8Array | undefined;

  /** `path`: the release's content.key; `passphrase` is asked only when a copy is first wanted. */
  constructor(path: string, passphrase: () => Promise<string>) {
    this.#path = path;
    this.#passphrase = passphrase;
  }

  /** A copy of the key, the file opened the first time only (a failure is kept, not tried again). */
  readonly copy: ContentKeySource = async () => {
    this.#opened ??= this.#open();
    const { key, binding } = await this.#opened;
    return { key: key.slice(), binding: binding.slice() };
  };

  async #open(): Promise<OpenedContentKey> {
    const bytes = await readSmallFile(this.#path, LIMITS.keyFileBytes);
    const opened = await openContentKey(bytes, await this.#passphrase());
    this.#key = opened.key;
    return opened;
  }

  [Symbol.dispose](): void {
    if (this.#key) wipe(this.#key);
  }
}
