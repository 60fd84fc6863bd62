// Notices the console shows after an action ("Halted…", "Not done: …"). The redirect after a form post
// carries only a random id; the text stays here, so a page shows only what this server said, never text
// that a link (or a phishing mail) put into the address.
import { randomBytes } from '../../core/crypto/index.ts';
import { toHex } from '../../core/format/bytes.ts';

/** How long a notice can be picked up after its redirect, and how many are kept at once. */
const NOTICE_TTL_MS = 5 * 60 * 1000;
const NOTICES_MAX = 1000;
const ID = /^[0-9a-f]{32}$/;

export class Notices {
  readonly #texts = new Map<string, { text: string; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Keeps a notice the server made; returns the id a redirect may carry. */
  put(text: string): string {
    this.#expire();
    if (this.#texts.size >= NOTICES_MAX) {
      const oldest = this.#texts.keys().next().value;
      if (oldest !== undefined) this.#texts.delete(oldest);
    }
    // Not a secret: the id only has to be unguessable enough that links cannot be made in advance.
    const id = toHex(randomBytes(16));
    this.#texts.set(id, { text: text.slice(0, 300), until: this.#now() + NOTICE_TTL_MS });
    return id;
  }

  /** The notice under `id`, if this server made it and it is still fresh; anything else shows nothing. */
  get(id: string | null): string | undefined {
    if (id === null || !ID.test(id)) return undefined;
    const entry = this.#texts.get(id);
    if (!entry || entry.until < this.#now()) return undefined;
    return entry.text;
  }

  #expire(): void {
    const now = this.#now();
    for (const [id, entry] of this.#texts) if (entry.until < now) this.#texts.delete(id);
  }
}
