/* docs/BOOT.md's boot (§Boot state, §Install, §Rejection, §Damaged boot state) over the core's public API
 * (sihl_verify, sihl_open_envelope, sihl_unpack) and its ports. Written for this target while the core has
 * no sihl_boot of its own: the Makefile compiles this file only when no file of the core defines
 * sihl_boot, so the core's takes over the day it exists. Portable C99, no heap; the buffers are static. */
#include <string.h>

#include "record-log.h"
#include "sihl/sihl.h"
#include "sodium/crypto_hash_sha256.h"
#include "sodium/utils.h"

enum { IDLE, PENDING, INSTALLING, INSTALLED, REJECTED };
#define STATE_RECORD 256u
#define TEXT_MAX 64u
#define SECTOR_MAX 4096u

struct boot_state {
  uint8_t phase, attempts;
  uint32_t running_size;
  uint8_t running_digest[32];
  uint32_t staged_image, staged_envelope;
  char version[TEXT_MAX + 1];
  char reason[TEXT_MAX + 1];
};

static uint8_t slot[STATE_RECORD];
static uint8_t sector[SECTOR_MAX];

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Strict UTF-8, as a fatal TextDecoder reads it: no overlong forms, surrogates or code points past U+10FFFF. */
static int utf8(const uint8_t *s, uint32_t n) {
  for (uint32_t i = 0; i < n;) {
    const uint8_t c = s[i];
    uint32_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > n) return 0;
    for (uint32_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[i + 1] < 0xa0) return 0;
    if (c == 0xed && s[i + 1] > 0x9f) return 0;
    if (c == 0xf0 && s[i + 1] < 0x90) return 0;
    if (c == 0xf4 && s[i + 1] > 0x8f) return 0;
    i += len;
  }
  return 1;
}

/* §Boot state: the payload's fields; 0 when it does not decode. */
static int decode(const uint8_t *p, uint32_t n, struct boot_state *s) {
  if (n < 48 || p[0] > REJECTED) return 0;
  s->phase = p[0];
  s->attempts = p[1];
  s->running_size = le32(p + 2);
  memcpy(s->running_digest, p + 6, 32);
  s->staged_image = le32(p + 38);
  s->staged_envelope = le32(p + 42);
  const uint32_t v = p[46];
  if (v > TEXT_MAX || 47 + v + 1 > n || !utf8(p + 47, v)) return 0;
  const uint32_t r = p[47 + v];
  if (r > TEXT_MAX || 48 + v + r != n || !utf8(p + 48 + v, r)) return 0;
  memcpy(s->version, p + 47, v);
  s->version[v] = '\0';
  memcpy(s->reason, p + 48 + v, r);
  s->reason[r] = '\0';
  return 1;
}

static int write_state(const struct record_log *log, const struct boot_state *s) {
  uint8_t p[48 + 2 * TEXT_MAX];
  const uint32_t v = (uint32_t)strlen(s->version), r = (uint32_t)strlen(s->reason);
  p[0] = s->phase;
  p[1] = s->attempts;
  put_le32(p + 2, s->running_size);
  memcpy(p + 6, s->running_digest, 32);
  put_le32(p + 38, s->staged_image);
  put_le32(p + 42, s->staged_envelope);
  p[46] = (uint8_t)v;
  memcpy(p + 47, s->version, v);
  p[47 + v] = (uint8_t)r;
  memcpy(p + 48 + v, s->reason, r);
  return record_log_append(log, p, 48 + v + r, slot);
}

static void set_text(char *out, const char *text) {
  size_t n = strlen(text);
  if (n > TEXT_MAX) n = TEXT_MAX;
  memcpy(out, text, n);
  out[n] = '\0';
}

/* docs/BOOT.md: the idle record that follows, keeping the running firmware and the reason. */
static struct boot_state idle(const struct boot_state *s) {
  struct boot_state next = *s;
  next.phase = IDLE;
  next.attempts = 0;
  next.staged_image = 0;
  next.staged_envelope = 0;
  return next;
}

static int sector_erased(const struct sihl_flash *f, uint32_t offset) {
  const uint32_t size = f->geometry.sector_size;
  for (uint32_t at = 0; at < size; at += SECTOR_MAX) {
    const uint32_t n = size - at < SECTOR_MAX ? size - at : SECTOR_MAX;
    if (f->read(f->ctx, offset + at, sector, n) != 0) return -1;
    for (uint32_t i = 0; i < n; i++)
      if (sector[i] != 0xff) return 0;
  }
  return 1;
}

/* Erases the sectors of `region` from `from` (rounded up to a sector) to `to`, skipping erased ones. */
static sihl_reason erase_range(const struct sihl_flash *f, struct sihl_region region, uint32_t from, uint32_t to) {
  const uint32_t s = f->geometry.sector_size;
  if (to > region.size) to = region.size;
  for (uint32_t at = (from + s - 1) / s * s; at < to; at += s) {
    const int erased = sector_erased(f, region.offset + at);
    if (erased < 0 || (erased == 0 && f->erase(f->ctx, region.offset + at) != 0)) return SIHL_FLASH_FAULT;
  }
  return SIHL_OK;
}

/* The staged image as the core reads it. */
struct staged {
  const struct sihl_flash *flash;
  uint32_t offset;
};

static int staged_read(void *ctx, uint64_t offset, uint8_t *out, size_t length) {
  const struct staged *st = ctx;
  return st->flash->read(st->flash->ctx, st->offset + (uint32_t)offset, out, (uint32_t)length);
}

static int discard(void *ctx, const uint8_t *data, size_t length) {
  (void)ctx;
  (void)data;
  (void)length;
  return 0;
}

/* §Install step 8: one sector collected, erased, written in one write (the last padded with 0xFF). */
struct sector_writer {
  const struct sihl_flash *flash;
  struct sihl_region region;
  uint32_t filled, next, written;
};

static int flush(struct sector_writer *w) {
  const struct sihl_flash *f = w->flash;
  const uint32_t unit = f->geometry.write_size;
  const uint32_t length = (w->filled + unit - 1) / unit * unit;
  memset(sector + w->filled, 0xff, length - w->filled);
  const uint32_t offset = w->region.offset + w->next;
  if (f->erase(f->ctx, offset) != 0 || f->program(f->ctx, offset, sector, length) != 0) return -1;
  w->next += f->geometry.sector_size;
  w->filled = 0;
  return 0;
}

static int sector_write(void *ctx, const uint8_t *data, size_t length) {
  struct sector_writer *w = ctx;
  const uint32_t size = w->flash->geometry.sector_size;
  while (length > 0) {
    uint32_t take = size - w->filled;
    if (take > length) take = (uint32_t)length;
    if (w->written + take > w->region.size) return -1;
    memcpy(sector + w->filled, data, take);
    w->filled += take;
    w->written += take;
    data += take;
    length -= take;
    if (w->filled == size && flush(w) != 0) return -1;
  }
  return 0;
}

static sihl_reason reason_of(const char *name) {
  for (int r = 0; r < SIHL_REASON_COUNT; r++)
    if (strcmp(sihl_reason_name((sihl_reason)r), name) == 0) return (sihl_reason)r;
  return SIHL_INTERNAL;
}

/* The report; `intact` from a hash of the slot's first running-size bytes. */
static sihl_reason finish(const struct sihl_device *d, const struct boot_state *s, int rejected, int installed,
                          uint32_t attempts, struct sihl_boot_report *report) {
  const struct sihl_flash *f = d->flash;
  memset(report, 0, sizeof *report);
  report->outcome = rejected ? SIHL_REJECTED : SIHL_BOOTED;
  report->reason = rejected ? reason_of(s->reason) : SIHL_OK;
  report->installed = installed;
  report->attempts = attempts;
  report->running_size = s->running_size;
  memcpy(report->running_digest, s->running_digest, 32);
  if (s->running_size > 0 && s->running_size <= d->executable.size) {
    crypto_hash_sha256_state hash;
    uint8_t digest[32];
    crypto_hash_sha256_init(&hash);
    for (uint32_t at = 0; at < s->running_size; at += SECTOR_MAX) {
      const uint32_t n = s->running_size - at < SECTOR_MAX ? s->running_size - at : SECTOR_MAX;
      if (f->read(f->ctx, d->executable.offset + at, sector, n) != 0) return SIHL_FLASH_FAULT;
      crypto_hash_sha256_update(&hash, sector, n);
    }
    crypto_hash_sha256_final(&hash, digest);
    report->intact = memcmp(digest, s->running_digest, 32) == 0;
  }
  d->platform->jump(d->platform->ctx, d->executable.offset);
  return SIHL_OK;
}

/* §Rejection. */
static sihl_reason reject(const struct sihl_device *d, const struct record_log *log, struct boot_state s,
                          const char *code, struct sihl_boot_report *report) {
  if (s.phase == INSTALLING) { /* the slot is partly overwritten: the running firmware is unknown */
    s.running_size = 0;
    memset(s.running_digest, 0, 32);
    set_text(s.version, "unknown");
  }
  const uint32_t attempts = s.attempts;
  const uint32_t staged = s.staged_image + s.staged_envelope;
  s.phase = REJECTED;
  set_text(s.reason, code);
  if (write_state(log, &s) != 0 || erase_range(d->flash, d->staging, 0, staged) != SIHL_OK) return SIHL_FLASH_FAULT;
  const struct boot_state next = idle(&s);
  if (write_state(log, &next) != 0) return SIHL_FLASH_FAULT;
  return finish(d, &next, 1, 0, attempts, report);
}

static sihl_reason install(const struct sihl_device *d, const struct record_log *log, struct boot_state s,
                           struct sihl_boot_report *report) {
  const struct sihl_flash *f = d->flash;
  /* Step 1. */
  if (s.staged_image == 0 || (uint64_t)s.staged_image + s.staged_envelope > d->staging.size)
    return reject(d, log, s, "STAGING_INVALID", report);
  /* Steps 2 and 3. */
  static struct sihl_trust trust;
  if (d->se->trust(d->se->ctx, &trust) != 0) return reject(d, log, s, "SECURE_ELEMENT_DAMAGED", report);
  struct staged st = {f, d->staging.offset};
  const struct sihl_reader image = {&st, s.staged_image, staged_read};
  const struct sihl_expect expect = {d->model, trust.security_counter, 0};
  static struct sihl_image v;
  sihl_reason r = sihl_verify(&image, &trust, &expect, d->work, &v);
  if (r == SIHL_FLASH_FAULT || r == SIHL_INTERNAL) return r;
  if (r != SIHL_OK) return reject(d, log, s, sihl_reason_name(r), report);
  /* Step 4. */
  if (v.plaintext_size > d->executable.size || v.chunk_size > SIHL_CHUNK_MAX)
    return reject(d, log, s, "LIMIT_EXCEEDED", report);
  /* Step 5. */
  uint8_t key[32];
  const uint8_t *content_key = 0;
  if (v.encryption != SIHL_ENCRYPTION_NONE) {
    if (s.staged_envelope != SIHL_ENVELOPE_BYTES)
      return reject(d, log, s, s.staged_envelope == 0 ? "ENVELOPE_REQUIRED" : "ENVELOPE_MALFORMED", report);
    uint8_t envelope[SIHL_ENVELOPE_BYTES];
    if (f->read(f->ctx, d->staging.offset + s.staged_image, envelope, sizeof envelope) != 0) return SIHL_FLASH_FAULT;
    r = sihl_open_envelope(envelope, &v, d->se, key);
    if (r == SIHL_FLASH_FAULT || r == SIHL_INTERNAL) return r;
    if (r != SIHL_OK) return reject(d, log, s, sihl_reason_name(r), report);
    content_key = key;
  }
  /* Step 6: the dry run. */
  const struct sihl_writer dry = {0, discard};
  r = sihl_unpack(&image, &v, content_key, d->work, &dry);
  if (r == SIHL_FLASH_FAULT || r == SIHL_INTERNAL) return r;
  if (r != SIHL_OK) {
    sodium_memzero(key, sizeof key);
    return reject(d, log, s, sihl_reason_name(r), report);
  }
  /* Step 7. */
  s.phase = INSTALLING;
  if (s.attempts < 255) s.attempts++;
  s.reason[0] = '\0';
  if (write_state(log, &s) != 0) return SIHL_FLASH_FAULT;
  /* Step 8: a failure here is not a refusal; the state stays installing. */
  if (f->geometry.sector_size > SECTOR_MAX) return SIHL_INTERNAL;
  struct sector_writer w = {f, d->executable, 0, 0, 0};
  const struct sihl_writer out = {&w, sector_write};
  r = sihl_unpack(&image, &v, content_key, d->work, &out);
  sodium_memzero(key, sizeof key);
  if (r != SIHL_OK) return r;
  if (w.filled > 0 && flush(&w) != 0) return SIHL_FLASH_FAULT;
  /* Step 9. */
  const uint32_t old_end = s.running_size == 0 ? d->executable.size : s.running_size;
  const uint32_t size = (uint32_t)v.plaintext_size;
  if (erase_range(f, d->executable, size, old_end > size ? old_end : size) != SIHL_OK) return SIHL_FLASH_FAULT;
  /* Step 10. */
  crypto_hash_sha256_state hash;
  uint8_t digest[32];
  crypto_hash_sha256_init(&hash);
  for (uint32_t at = 0; at < size; at += SECTOR_MAX) {
    const uint32_t n = size - at < SECTOR_MAX ? size - at : SECTOR_MAX;
    if (f->read(f->ctx, d->executable.offset + at, sector, n) != 0) return SIHL_FLASH_FAULT;
    crypto_hash_sha256_update(&hash, sector, n);
  }
  crypto_hash_sha256_final(&hash, digest);
  if (memcmp(digest, v.plaintext_digest, 32) != 0) return SIHL_INTERNAL;
  /* Step 11. */
  if (d->se->advance(d->se->ctx, v.security_version, v.delegation_version, &v.root) != 0) return SIHL_FLASH_FAULT;
  /* Steps 12 to 14. */
  s.phase = INSTALLED;
  s.running_size = size;
  memcpy(s.running_digest, v.plaintext_digest, 32);
  set_text(s.version, v.version);
  if (write_state(log, &s) != 0) return SIHL_FLASH_FAULT;
  if (erase_range(f, d->staging, 0, s.staged_image + s.staged_envelope) != SIHL_OK) return SIHL_FLASH_FAULT;
  const struct boot_state next = idle(&s);
  if (write_state(log, &next) != 0) return SIHL_FLASH_FAULT;
  return finish(d, &next, 0, 1, s.attempts, report);
}

sihl_reason sihl_boot(const struct sihl_device *d, struct sihl_boot_report *report) {
  const struct record_log log = {d->flash, d->boot_state.offset, STATE_RECORD};
  static uint8_t payload[STATE_RECORD];
  uint32_t length = 0;
  static struct boot_state s;
  const int found = record_log_read(&log, payload, sizeof payload, &length, slot);
  if (found < 0) return SIHL_FLASH_FAULT;
  if (found == 0 || !decode(payload, length, &s)) {
    /* §Damaged boot state. */
    if (erase_range(d->flash, d->staging, 0, d->staging.size) != SIHL_OK) return SIHL_FLASH_FAULT;
    memset(&s, 0, sizeof s);
    s.phase = IDLE;
    set_text(s.version, "unknown");
    set_text(s.reason, "BOOT_STATE_CORRUPT");
    if (write_state(&log, &s) != 0) return SIHL_FLASH_FAULT;
    return finish(d, &s, 1, 0, 0, report);
  }
  switch (s.phase) {
    case PENDING:
    case INSTALLING:
      return install(d, &log, s, report);
    case INSTALLED:
    case REJECTED: {
      /* Power was lost while staging was being erased: finish that. */
      if (erase_range(d->flash, d->staging, 0, s.staged_image + s.staged_envelope) != SIHL_OK)
        return SIHL_FLASH_FAULT;
      const struct boot_state next = idle(&s);
      if (write_state(&log, &next) != 0) return SIHL_FLASH_FAULT;
      return finish(d, &next, next.reason[0] != '\0', s.phase == INSTALLED, 0, report);
    }
    default:
      return finish(d, &s, 0, 0, 0, report);
  }
}
