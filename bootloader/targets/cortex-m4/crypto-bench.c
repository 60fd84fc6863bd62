/* libsodium's primitives on the Cortex-M4, counted in instructions (qemu -icount shift=0): SHA-256 (the
 * payload digest), Ed25519 verification (each approver and root signature), secretstream decryption (the
 * payload) and the sealed box (the key envelope). The inputs are made on the host with libsodium and put
 * in the flash file (layout below), so every result is checked, not only timed. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "semihost.h"
#include "sodium/crypto_box.h"
#include "sodium/crypto_hash_sha256.h"
#include "sodium/crypto_secretstream_xchacha20poly1305.h"
#include "sodium/crypto_sign_ed25519.h"

/* Input layout, u32 little-endian fields at these offsets of the flash file. */
enum {
  IN_MAGIC = 0,       /* "SIHB" */
  IN_HASH_LEN = 4,    /* bytes to hash, at IN_DATA */
  IN_SIGN_PK = 8,     /* 32 bytes */
  IN_SIGN_SIG = 40,   /* 64 bytes */
  IN_SIGN_MSG = 104,  /* u32 offset of the signed message */
  IN_SIGN_LEN = 108,  /* its length */
  IN_SS_KEY = 112,    /* 32 bytes */
  IN_SS_HEADER = 144, /* 24 bytes */
  IN_SS_CHUNK = 168,  /* plaintext bytes per message */
  IN_SS_COUNT = 172,  /* messages; the last is tagged FINAL and may be shorter */
  IN_SS_AT = 176,     /* u32 offset of the first message */
  IN_SS_LEN = 180,    /* bytes of all messages */
  IN_BOX_PK = 184,    /* 32 bytes: the recipient's X25519 public key */
  IN_BOX_SK = 216,    /* 32 bytes: its secret key */
  IN_BOX_AT = 248,    /* u32 offset of the sealed box */
  IN_BOX_LEN = 252,
  IN_DATA = 256
};

#define CHUNK_MAX 16384u

static const uint8_t *in;

static uint32_t u32(uint32_t at) {
  return (uint32_t)in[at] | (uint32_t)in[at + 1] << 8 | (uint32_t)in[at + 2] << 16 | (uint32_t)in[at + 3] << 24;
}

static void field(const char *name, uint32_t value) {
  sh_puts(" ");
  sh_puts(name);
  sh_puts("=");
  sh_put_u32(value);
}

/* A loop of a known instruction count (two per round) checks the clock. */
static __attribute__((noinline)) void spin(uint32_t rounds) {
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(rounds) : : "cc");
}

int main(void) {
  static nor_flash flash;
  board_start(&flash);
  in = flash.memory;
  if (memcmp(in, "SIHB", 4) != 0) {
    sh_puts("no bench input in the flash file\n");
    return EXIT_USAGE;
  }
  uint64_t t0 = board_instructions();
  spin(1000000);
  sh_puts("calibration");
  field("expected", 2000000);
  field("insns", (uint32_t)(board_instructions() - t0));
  sh_puts("\n");

  uint8_t digest[32];
  const uint32_t hash_len = u32(IN_HASH_LEN);
  t0 = board_instructions();
  crypto_hash_sha256(digest, in + IN_DATA, hash_len);
  sh_puts("sha256");
  field("bytes", hash_len);
  field("insns", (uint32_t)(board_instructions() - t0));
  sh_puts(" digest=");
  sh_put_hex(digest, 32);
  sh_puts("\n");

  t0 = board_instructions();
  const int bad_sig = crypto_sign_ed25519_verify_detached(in + IN_SIGN_SIG, in + u32(IN_SIGN_MSG),
                                                          u32(IN_SIGN_LEN), in + IN_SIGN_PK);
  sh_puts("ed25519-verify");
  field("bytes", u32(IN_SIGN_LEN));
  field("insns", (uint32_t)(board_instructions() - t0));
  field("ok", bad_sig == 0);
  sh_puts("\n");

  static crypto_secretstream_xchacha20poly1305_state state;
  static uint8_t plain[CHUNK_MAX];
  crypto_hash_sha256_state plain_hash;
  crypto_hash_sha256_init(&plain_hash);
  const uint32_t chunk = u32(IN_SS_CHUNK), count = u32(IN_SS_COUNT);
  uint32_t at = u32(IN_SS_AT), left = u32(IN_SS_LEN), plain_bytes = 0;
  int ok = chunk <= CHUNK_MAX;
  uint64_t decrypt = 0;
  t0 = board_instructions();
  ok = ok && crypto_secretstream_xchacha20poly1305_init_pull(&state, in + IN_SS_HEADER, in + IN_SS_KEY) == 0;
  decrypt += board_instructions() - t0;
  for (uint32_t i = 0; ok && i < count; i++) {
    const uint32_t n = left < chunk + 17u ? left : chunk + 17u;
    unsigned long long m = 0;
    unsigned char tag = 0;
    t0 = board_instructions();
    ok = crypto_secretstream_xchacha20poly1305_pull(&state, plain, &m, &tag, in + at, n, 0, 0) == 0;
    decrypt += board_instructions() - t0;
    ok = ok && (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) == (i + 1 == count);
    crypto_hash_sha256_update(&plain_hash, plain, (unsigned long long)m);
    plain_bytes += (uint32_t)m;
    at += n;
    left -= n;
  }
  crypto_hash_sha256_final(&plain_hash, digest);
  sh_puts("secretstream-pull");
  field("bytes", plain_bytes);
  field("insns", (uint32_t)decrypt);
  field("ok", ok && left == 0);
  sh_puts(" digest=");
  sh_put_hex(digest, 32);
  sh_puts("\n");

  uint8_t key[64];
  const uint32_t box_len = u32(IN_BOX_LEN);
  t0 = board_instructions();
  const int bad_box = box_len < crypto_box_SEALBYTES || box_len - crypto_box_SEALBYTES > sizeof key ||
                      crypto_box_seal_open(key, in + u32(IN_BOX_AT), box_len, in + IN_BOX_PK, in + IN_BOX_SK);
  sh_puts("box-seal-open");
  field("bytes", box_len);
  field("insns", (uint32_t)(board_instructions() - t0));
  field("ok", bad_box == 0);
  sh_puts(" opened=");
  sh_put_hex(key, bad_box ? 0 : box_len - crypto_box_SEALBYTES);
  sh_puts("\n");
  board_finish(&flash, EXIT_OK);
}
