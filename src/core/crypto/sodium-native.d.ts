// The few sodium-native v5 functions sihl uses (the published @types package describes v3).
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  const sodium: {
    crypto_auth_BYTES: number;
    crypto_auth_KEYBYTES: number;
    crypto_auth(out: Bytes, input: Bytes, k: Bytes): void;
    crypto_auth_verify(h: Bytes, input: Bytes, k: Bytes): boolean;
    crypto_sign_PUBLICKEYBYTES: number;
    crypto_sign_SECRETKEYBYTES: number;
    crypto_sign_SEEDBYTES: number;
    crypto_sign_BYTES: number;
    crypto_sign_keypair(pk: Bytes, sk: Bytes): void;
    crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void;
    crypto_sign_detached(sig: Bytes, m: Bytes, sk: Bytes): void;
    crypto_sign_verify_detached(sig: Bytes, m: Bytes, pk: Bytes): boolean;
    crypto_sign_ed25519_sk_to_pk(pk: Bytes, sk: Bytes): void;
    crypto_core_ed25519_is_valid_point(p: Bytes): boolean;

    crypto_box_PUBLICKEYBYTES: number;
    crypto_box_SECRETKEYBYTES: number;
    crypto_box_SEALBYTES: number;
    crypto_box_keypair(pk: Bytes, sk: Bytes): void;
    crypto_box_seal(c: Bytes, m: Bytes, pk: Bytes): void;
    crypto_box_seal_open(m: Bytes, c: Bytes, pk: Bytes, sk: Bytes): boolean;
    crypto_scalarmult_BYTES: number;
    crypto_scalarmult_SCALARBYTES: number;
    crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
    crypto_scalarmult_base(q: Bytes, n: Bytes): void;

    crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
    crypto_secretstream_xchacha20poly1305_HEADERBYTES: number;
    crypto_secretstream_xchacha20poly1305_KEYBYTES: number;
    crypto_secretstream_xchacha20poly1305_ABYTES: number;
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number;
    crypto_secretstream_xchacha20poly1305_TAG_FINAL: number;
    crypto_secretstream_xchacha20poly1305_init_push(state: Bytes, header: Bytes, k: Bytes): void;
    crypto_secretstream_xchacha20poly1305_init_pull(state: Bytes, header: Bytes, k: Bytes): void;
    crypto_secretstream_xchacha20poly1305_push(
      state: Bytes,
      c: Bytes,
      m: Bytes,
      ad: Bytes | null,
      tag: number,
    ): number;
    crypto_secretstream_xchacha20poly1305_pull(
      state: Bytes,
      m: Bytes,
      tag: Bytes,
      c: Bytes,
      ad: Bytes | null,
    ): number;

    crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number;
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number;
    crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      c: Bytes,
      m: Bytes,
      ad: Bytes | null,
      nsec: null,
      npub: Bytes,
      k: Bytes,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      m: Bytes,
      nsec: null,
      c: Bytes,
      ad: Bytes | null,
      npub: Bytes,
      k: Bytes,
    ): number;

    crypto_pwhash_SALTBYTES: number;
    crypto_pwhash_ALG_ARGON2ID13: number;
    crypto_pwhash_OPSLIMIT_INTERACTIVE: number;
    crypto_pwhash_MEMLIMIT_INTERACTIVE: number;
    crypto_pwhash_OPSLIMIT_MODERATE: number;
    crypto_pwhash_MEMLIMIT_MODERATE: number;
    crypto_pwhash_OPSLIMIT_MIN: number;
    crypto_pwhash_MEMLIMIT_MIN: number;
    crypto_pwhash_async(
      out: Bytes,
      passwd: Bytes,
      salt: Bytes,
      opslimit: number,
      memlimit: number,
      alg: number,
    ): Promise<void>;

    randombytes_buf(buf: Bytes): void;
    sodium_memzero(buf: Bytes): void;
  };
  export default sodium;
}
