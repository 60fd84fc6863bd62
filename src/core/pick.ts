// Passing options on under `exactOptionalPropertyTypes`: an absent option must stay absent, not become
// `undefined`, so composition code copies only the options that are set.

/** The named properties of `from` that are not undefined. */
export function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}
