// A small seeded generator (mulberry32) for what must repeat from a seed and is never secret: the
// simulated fleet's schedules and injected faults, the tests' generated inputs, the benchmarks' corpora.
// Anything secret comes from libsodium (src/core/crypto); this must never be used for keys or nonces.

/** 32-bit words from `seed`, the same sequence every time. */
export function seededWords(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Numbers in [0, 1) from `seed`, the same sequence every time. */
export function seeded(seed: number): () => number {
  const next = seededWords(seed);
  return () => next() / 4294967296;
}
