// Per-key token buckets for rate limits: each key may spend `burst` requests at once, then `perMinute`
// a minute. Idle buckets are full again, so they are dropped, which bounds memory by the active keys.
import { type Clock, systemClock } from '../core/clock.ts';

export interface RateLimit {
  /** Requests a key may make at once. */
  readonly burst: number;
  /** Requests a key may make per minute, on average. */
  readonly perMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #limit: RateLimit;
  readonly #now: Clock;
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxKeys: number;

  constructor(limit: RateLimit, now: Clock = systemClock, maxKeys = 100_000) {
    if (!(limit.burst >= 1) || !(limit.perMinute > 0))
      throw new RangeError('a rate limit needs burst ≥ 1 and a rate');
    this.#limit = limit;
    this.#now = now;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token; when there is none, the seconds until there will be one. */
  take(key: string): { ok: true } | { ok: false; retryAfter: number } {
    const now = this.#now().getTime();
    const perMs = this.#limit.perMinute / 60_000;
    const bucket = this.#buckets.get(key);
    let tokens = this.#limit.burst;
    if (bucket) tokens = Math.min(this.#limit.burst, bucket.tokens + (now - bucket.at) * perMs);
    if (bucket && tokens < 1) {
      bucket.tokens = tokens;
      bucket.at = now;
      return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)) };
    }
    if (!bucket && this.#buckets.size >= this.#maxKeys) this.#sweep(now, perMs);
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    return { ok: true };
  }

  #sweep(now: number, perMs: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * perMs >= this.#limit.burst) this.#buckets.delete(key);
    }
    // Still full of busy keys: forget the oldest, which only ever makes the limit more lenient.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxKeys) break;
      this.#buckets.delete(key);
    }
  }
}
