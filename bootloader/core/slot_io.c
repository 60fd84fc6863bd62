/* Reading, writing, copying and proving slots in fixed buffers of one sector (docs/BOOT.md §Working
 * memory): erases skip sectors already erased, copies skip sectors already equal. */
#include <string.h>

#include "boot.h"
#include "sodium/crypto_hash_sha256.h"

static uint8_t sector[SECTOR_MAX];
static uint8_t other[SECTOR_MAX];

static int erased(const uint8_t *p, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (p[i] != 0xff) return 0;
  return 1;
}

/* Every sector of `region` that starts at or after `from` and before `to` (clamped) and is not erased. */
sihl_reason erase_range(const struct sihl_flash *f, struct sihl_region region, uint32_t from, uint32_t to) {
  const uint32_t s = f->geometry.sector_size;
  if (s > SECTOR_MAX) return SIHL_INTERNAL;
  if (to > region.size) to = region.size;
  for (uint64_t at = ((uint64_t)from + s - 1) / s * s; at < to; at += s) {
    if (f->read(f->ctx, region.offset + (uint32_t)at, sector, s) != 0) return SIHL_FLASH_FAULT;
    if (!erased(sector, s) && f->erase(f->ctx, region.offset + (uint32_t)at) != 0) return SIHL_FLASH_FAULT;
  }
  return SIHL_OK;
}

sihl_reason digest_of(const struct sihl_flash *f, struct sihl_region region, uint32_t size, uint8_t out[32]) {
  crypto_hash_sha256_state hash;
  if (size > region.size) return SIHL_INTERNAL;
  crypto_hash_sha256_init(&hash);
  for (uint32_t at = 0; at < size; at += SECTOR_MAX) {
    const uint32_t n = size - at < SECTOR_MAX ? size - at : SECTOR_MAX;
    if (f->read(f->ctx, region.offset + at, sector, n) != 0) return SIHL_FLASH_FAULT;
    crypto_hash_sha256_update(&hash, sector, n);
  }
  crypto_hash_sha256_final(&hash, out);
  return SIHL_OK;
}

int slot_holds(const struct sihl_flash *f, struct sihl_region region, uint32_t size, const uint8_t digest[32]) {
  uint8_t d[32];
  const sihl_reason r = digest_of(f, region, size, d);
  if (r != SIHL_OK) return -1;
  return memcmp(d, digest, 32) == 0;
}

/* Whether the sector at `offset` holds `bytes` (n bytes), read through the second buffer. */
static int same(const struct sihl_flash *f, uint32_t offset, const uint8_t *bytes, uint32_t n, int *equal) {
  if (f->read(f->ctx, offset, other, n) != 0) return -1;
  *equal = memcmp(other, bytes, n) == 0;
  return 0;
}

/* The first `size` bytes of `from` into `to`, whole sectors, a sector that differs erased and written in
 * one write (not written when all 0xFF); `digest` is the SHA-256 of the source as read for the copy. */
sihl_reason copy_slot(const struct sihl_flash *f, struct sihl_region from, struct sihl_region to, uint32_t size,
                      uint8_t digest[32]) {
  const uint32_t s = f->geometry.sector_size;
  crypto_hash_sha256_state hash;
  if (s > SECTOR_MAX || size > from.size || size > to.size) return SIHL_INTERNAL;
  crypto_hash_sha256_init(&hash);
  for (uint32_t at = 0; at < size; at += s) {
    int equal = 0;
    if (f->read(f->ctx, from.offset + at, sector, s) != 0) return SIHL_FLASH_FAULT;
    crypto_hash_sha256_update(&hash, sector, size - at < s ? size - at : s);
    if (same(f, to.offset + at, sector, s, &equal) != 0) return SIHL_FLASH_FAULT;
    if (equal) continue;
    if (f->erase(f->ctx, to.offset + at) != 0) return SIHL_FLASH_FAULT;
    if (!erased(sector, s) && f->program(f->ctx, to.offset + at, sector, s) != 0) return SIHL_FLASH_FAULT;
  }
  crypto_hash_sha256_final(&hash, digest);
  return SIHL_OK;
}

/* §Install step 10: one sector collected, erased, written in one write (the last padded with 0xFF). */
static int flush(struct sector_writer *w) {
  const struct sihl_flash *f = w->flash;
  const uint32_t unit = f->geometry.write_size;
  const uint32_t length = (w->filled + unit - 1) / unit * unit;
  if (length > SECTOR_MAX) return -1;
  memset(sector + w->filled, 0xff, length - w->filled);
  const uint32_t offset = w->region.offset + w->next;
  if (f->erase(f->ctx, offset) != 0 || f->program(f->ctx, offset, sector, length) != 0) return -1;
  w->next += f->geometry.sector_size;
  w->filled = 0;
  return 0;
}

int sector_write(void *ctx, const uint8_t *data, size_t length) {
  struct sector_writer *w = ctx;
  const uint32_t size = w->flash->geometry.sector_size;
  if (size > SECTOR_MAX) return -1;
  while (length > 0) {
    uint32_t take = size - w->filled;
    if (take > length) take = (uint32_t)length;
    if (take > w->region.size - w->written) return -1;
    memcpy(sector + w->filled, data, take);
    w->filled += take;
    w->written += take;
    data += take;
    length -= take;
    if (w->filled == size && flush(w) != 0) return -1;
  }
  return 0;
}

int sector_finish(struct sector_writer *w) { return w->filled > 0 ? flush(w) : 0; }
