// When the agent polls next: the configured interval when all is well, an exponential backoff with a
// cap after errors, both shortened by a random jitter so a fleet restarted together spreads out. Time,
// sleeping and randomness are injected, so tests run the loop without waiting.
import type { Timing } from './limits.ts';

export interface Timers {
  now(): Date;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** In [0, 1). */
  random(): number;
}

export const systemTimers: Timers = {
  now: () => new Date(),
  random: Math.random,
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** Milliseconds until the next poll, after `failures` failed polls in a row (0: the last one worked). */
export function nextDelay(timing: Timing, failures: number, random: number): number {
  const seconds =
    failures === 0
      ? timing.interval
      : Math.min(timing.backoffCap, timing.backoff * 2 ** Math.min(failures - 1, 30));
  return Math.round(seconds * 1000 * (1 - timing.jitter * random));
}
