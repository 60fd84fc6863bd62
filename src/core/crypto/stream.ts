// crypto_secretstream_xchacha20poly1305: the image payload, encrypted in chunks. Each chunk carries a
// tag; the last one is FINAL. A stream cut at a chunk boundary still decrypts chunk by chunk, so the
// caller must insist on FINAL exactly at the end (docs/FORMAT.md §Payload).
import { SihlError } from '../errors.ts';
import { randomBytes, sodium, wipe } from './sodium.ts';

export const STREAM_KEY_BYTES = 32;
export const STREAM_HEADER_BYTES = 24;
export const STREAM_CHUNK_OVERHEAD = 17;
const TAG_MESSAGE = 0;
const TAG_FINAL = 3;

export function generateContentKey(): Uint8Array {
  return randomBytes(STREAM_KEY_BYTES);
}

export class StreamEncryptor {
  readonly header = new Uint8Array(STREAM_HEADER_BYTES);
  readonly #state = new Uint8Array(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  #finished = false;

  constructor(key: Uint8Array) {
    if (key.length !== STREAM_KEY_BYTES) throw new SihlError('INTERNAL', 'a content key is 32 bytes');
    sodium.crypto_secretstream_xchacha20poly1305_init_push(this.#state, this.header, key);
  }

  push(plaintext: Uint8Array, ad: Uint8Array, final: boolean): Uint8Array {
    // After FINAL the state is wiped; pushing on would encrypt under an all-zero state.
    if (this.#finished) throw new SihlError('INTERNAL', 'push after the final chunk');
    const out = new Uint8Array(plaintext.length + STREAM_CHUNK_OVERHEAD);
    sodium.crypto_secretstream_xchacha20poly1305_push(
      this.#state,
      out,
      plaintext,
      ad,
      final ? TAG_FINAL : TAG_MESSAGE,
    );
    if (final) {
      this.#finished = true;
      wipe(this.#state);
    }
    return out;
  }
}

export class StreamDecryptor {
  readonly #state = new Uint8Array(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  readonly #tag = new Uint8Array(1);

  constructor(key: Uint8Array, header: Uint8Array) {
    if (key.length !== STREAM_KEY_BYTES || header.length !== STREAM_HEADER_BYTES) {
      throw new SihlError('STREAM_DECRYPT_FAILED', 'content key or stream header has the wrong length');
    }
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(this.#state, header, key);
  }

  /**
   * Decrypts one chunk, into `out` when it is large enough; `final` says whether the chunk was tagged
   * FINAL. Throws STREAM_DECRYPT_FAILED.
   */
  pull(ciphertext: Uint8Array, ad: Uint8Array, out?: Uint8Array): { plaintext: Uint8Array; final: boolean } {
    if (ciphertext.length < STREAM_CHUNK_OVERHEAD) {
      throw new SihlError('STREAM_DECRYPT_FAILED', 'encrypted chunk is shorter than its authentication tag');
    }
    const length = ciphertext.length - STREAM_CHUNK_OVERHEAD;
    const plaintext = out && out.length >= length ? out.subarray(0, length) : new Uint8Array(length);
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(this.#state, plaintext, this.#tag, ciphertext, ad);
    } catch {
      throw new SihlError('STREAM_DECRYPT_FAILED', 'an encrypted chunk failed authentication');
    }
    const tag = this.#tag[0];
    if (tag !== TAG_MESSAGE && tag !== TAG_FINAL) {
      throw new SihlError('STREAM_DECRYPT_FAILED', `unexpected secretstream tag ${tag}`);
    }
    return { plaintext, final: tag === TAG_FINAL };
  }

  wipe(): void {
    wipe(this.#state);
  }
}

/**
 * Encrypts messages with the tags given, including ones a packer never writes (PUSH = 1, REKEY = 2):
 * only for test vectors that show how a verifier treats them (docs/FORMAT.md §Encryption).
 */
export function encryptWithTags(
  key: Uint8Array,
  adFor: (header: Uint8Array) => Uint8Array,
  messages: readonly { readonly plaintext: Uint8Array; readonly tag: number }[],
): { header: Uint8Array; ciphertexts: Uint8Array[] } {
  const header = new Uint8Array(STREAM_HEADER_BYTES);
  const state = new Uint8Array(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
  // The associated data (an image's stream binding) covers the header drawn just now.
  const ad = adFor(header);
  const ciphertexts = messages.map(({ plaintext, tag }) => {
    const out = new Uint8Array(plaintext.length + STREAM_CHUNK_OVERHEAD);
    sodium.crypto_secretstream_xchacha20poly1305_push(state, out, plaintext, ad, tag);
    return out;
  });
  wipe(state);
  return { header, ciphertexts };
}
