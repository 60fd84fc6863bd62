// The one place that loads libsodium. Every other file in src/core/crypto goes through this import, and
// nothing outside src/core/crypto may import sodium-native (test/core/import-graph.test.ts checks it).
import sodium from 'sodium-native';

export { sodium };

/** Best effort: JavaScript cannot promise that no copy of a secret survives elsewhere in the heap. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) if (buffer) sodium.sodium_memzero(buffer);
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  sodium.randombytes_buf(out);
  return out;
}
