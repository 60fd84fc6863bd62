/* The core's LZMA2 decoder (xz-embedded behind core/lzma.h) on the Cortex-M4, counted in instructions
 * (qemu -icount shift=0). The flash file holds, from offset 0: "SIHZ", u32 window_log, u32 compressed
 * length, u32 plaintext length, then at offset 64 a raw LZMA2 stream made on the host by
 * `xz --format=raw --lzma2=dict=2^window_log`. The output's SHA-256 is printed for the host to check. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "lzma.h"
#include "semihost.h"
#include "sodium/crypto_hash_sha256.h"

static uint8_t arena[(1u << 16) + 32768u];
static uint8_t out[4096];

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int main(void) {
  static nor_flash flash;
  board_start(&flash);
  const uint8_t *in = flash.memory;
  if (memcmp(in, "SIHZ", 4) != 0) return EXIT_USAGE;
  const uint32_t window_log = le32(in + 4), compressed = le32(in + 8), plain = le32(in + 12);
  struct sihl_lzma z;
  crypto_hash_sha256_state hash;
  crypto_hash_sha256_init(&hash);
  uint64_t decode = 0, t0 = board_instructions();
  sihl_reason r = sihl_lzma_begin(&z, arena, sizeof arena, window_log);
  decode += board_instructions() - t0;
  uint32_t at = 0, produced_total = 0;
  while (r == SIHL_OK && produced_total < plain) {
    size_t consumed = 0, produced = 0;
    t0 = board_instructions();
    r = sihl_lzma_run(&z, in + 64 + at, compressed - at, &consumed, out, sizeof out, &produced);
    decode += board_instructions() - t0;
    crypto_hash_sha256_update(&hash, out, produced);
    at += (uint32_t)consumed;
    produced_total += (uint32_t)produced;
    if (consumed == 0 && produced == 0) break;
  }
  uint8_t digest[32];
  crypto_hash_sha256_final(&hash, digest);
  static const char digits[] = "0123456789abcdef";
  char text[65];
  for (int i = 0; i < 32; i++) {
    text[2 * i] = digits[digest[i] >> 4];
    text[2 * i + 1] = digits[digest[i] & 15];
  }
  text[64] = '\0';
  sh_puts("lzma2 result=");
  sh_puts(sihl_reason_name(r));
  sh_puts(" window=");
  sh_put_u32(window_log);
  sh_puts(" memory=");
  sh_put_u32((uint32_t)sihl_lzma_memory());
  sh_puts(" compressed=");
  sh_put_u32(compressed);
  sh_puts(" bytes=");
  sh_put_u32(produced_total);
  sh_puts(" insns=");
  sh_put_u32((uint32_t)decode);
  sh_puts(" digest=");
  sh_puts(text);
  sh_puts("\n");
  board_finish(&flash, r == SIHL_OK && produced_total == plain ? EXIT_OK : EXIT_FAILED);
}
