/* docs/BOOT.md §Boot state: the body, its encoding, and the record log whose records carry a tag the
 * secure element makes over "sihl/v1/boot-state\0" || sequence || body; a record whose tag does not
 * verify is garbage, as if torn. */
#include <string.h>

#include "boot.h"

#define RECORD_BYTES 1024u
#define TAG_BYTES 32u
#define PAYLOAD_MAX (RECORD_BYTES - RECORD_OVERHEAD)
#define BODY_MAX (PAYLOAD_MAX - TAG_BYTES)
#define CONTEXT "sihl/v1/boot-state" /* and its terminating NUL: 19 bytes */
#define CONTEXT_BYTES 19u

static uint8_t slot[RECORD_BYTES];
static uint8_t payload[PAYLOAD_MAX];
static uint8_t message[CONTEXT_BYTES + 4 + BODY_MAX]; /* what is tagged */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The message the tag covers; its length, or 0 when the body is too long to be one this device wrote. */
static uint32_t tagged(uint32_t sequence, const uint8_t *body, uint32_t n) {
  if (n > BODY_MAX) return 0;
  memcpy(message, CONTEXT, CONTEXT_BYTES);
  put_le32(message + CONTEXT_BYTES, sequence);
  memcpy(message + CONTEXT_BYTES + 4, body, n);
  return CONTEXT_BYTES + 4 + n;
}

static int accept(void *ctx, uint32_t sequence, const uint8_t *p, uint32_t n) {
  const struct sihl_secure_element *se = ctx;
  if (n < TAG_BYTES) return 0;
  const uint32_t m = tagged(sequence, p, n - TAG_BYTES);
  return m != 0 && se->check_record(se->ctx, message, m, p + n - TAG_BYTES) == 0;
}

void boot_log_open(struct boot *b) {
  b->log = (struct record_log){b->d->flash, b->d->boot_state.offset, RECORD_BYTES, accept, (void *)b->d->se};
}

/* Strict UTF-8, as a fatal TextDecoder reads it: no overlong forms, surrogates or code points past U+10FFFF. */
static int utf8(const uint8_t *s, uint32_t n) {
  for (uint32_t i = 0; i < n;) {
    const uint8_t c = s[i];
    const uint32_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > n) return 0;
    for (uint32_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f)) return 0;
    if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f)) return 0;
    i += len;
  }
  return 1;
}

/* A bounded reader over the body: every take checks the length first. */
struct cursor {
  const uint8_t *p;
  uint32_t n, at;
  int ok;
};

static const uint8_t *take(struct cursor *c, uint32_t k) {
  if (!c->ok || k > c->n - c->at) {
    c->ok = 0;
    return 0;
  }
  c->at += k;
  return c->p + c->at - k;
}

static uint32_t take32(struct cursor *c) {
  const uint8_t *p = take(c, 4);
  return p ? le32(p) : 0;
}

static uint8_t take8(struct cursor *c) {
  const uint8_t *p = take(c, 1);
  return p ? p[0] : 0;
}

static void take_text(struct cursor *c, char *out) {
  const uint32_t v = take8(c);
  const uint8_t *p = v <= TEXT_MAX ? take(c, v) : 0;
  if (p == 0 || !utf8(p, v)) {
    c->ok = 0;
    return;
  }
  memcpy(out, p, v);
  out[v] = '\0';
}

static void take_firmware(struct cursor *c, struct firmware *f) {
  f->size = take32(c);
  const uint8_t *d = take(c, 32);
  if (d) memcpy(f->digest, d, 32);
  take_text(c, f->version);
}

static int decode(const uint8_t *p, uint32_t n, struct boot_state *s) {
  struct cursor c = {p, n, 0, 1};
  memset(s, 0, sizeof *s);
  s->phase = take8(&c);
  s->attempts = take8(&c);
  take_firmware(&c, &s->running);
  take_firmware(&c, &s->previous);
  s->staged_image = take32(&c);
  s->staged_envelope = take32(&c);
  const uint8_t *m = take(&c, 32);
  if (m) memcpy(s->staged_manifest, m, 32);
  take_text(&c, s->reason);
  s->security_version = take32(&c);
  s->delegation_version = take32(&c);
  s->root.version = take32(&c);
  s->root.threshold = take8(&c);
  const uint32_t count = take8(&c);
  if (count > SIHL_KEYS_MAX || (count == 0 && (s->root.version != 0 || s->root.threshold != 0))) return 0;
  s->root.key_count = (uint8_t)count;
  const uint8_t *keys = take(&c, 32 * count);
  if (keys) memcpy(s->root.keys, keys, 32 * count);
  return c.ok && c.at == n && s->phase <= REJECTED;
}

int state_read(struct boot *b, struct boot_state *s) {
  uint32_t n = 0;
  const int found = record_log_read(&b->log, payload, sizeof payload, &n, slot);
  if (found <= 0) return found;
  return n >= TAG_BYTES && decode(payload, n - TAG_BYTES, s) ? 1 : 0;
}

static uint32_t put_text(uint8_t *p, const char *text) {
  size_t v = strlen(text);
  if (v > TEXT_MAX) v = TEXT_MAX;
  p[0] = (uint8_t)v;
  memcpy(p + 1, text, v);
  return 1 + (uint32_t)v;
}

static uint32_t put_firmware(uint8_t *p, const struct firmware *f) {
  put_le32(p, f->size);
  memcpy(p + 4, f->digest, 32);
  return 36 + put_text(p + 36, f->version);
}

static uint32_t encode(const struct boot_state *s, uint8_t *p) {
  uint32_t at = 0;
  p[at++] = s->phase;
  p[at++] = s->attempts;
  at += put_firmware(p + at, &s->running);
  at += put_firmware(p + at, &s->previous);
  put_le32(p + at, s->staged_image);
  put_le32(p + at + 4, s->staged_envelope);
  memcpy(p + at + 8, s->staged_manifest, 32);
  at += 40;
  at += put_text(p + at, s->reason);
  const uint32_t k = s->root.key_count <= SIHL_KEYS_MAX ? s->root.key_count : 0;
  put_le32(p + at, s->security_version);
  put_le32(p + at + 4, s->delegation_version);
  put_le32(p + at + 8, k ? s->root.version : 0);
  p[at + 12] = k ? s->root.threshold : 0;
  p[at + 13] = (uint8_t)k;
  memcpy(p + at + 14, s->root.keys, 32 * k);
  return at + 14 + 32 * k;
}

static int fill(void *ctx, uint32_t sequence, uint8_t *out, uint32_t length) {
  const struct boot *b = ctx;
  const uint32_t n = length - TAG_BYTES;
  const uint32_t m = tagged(sequence, payload, n);
  if (m == 0) return -1;
  memcpy(out, payload, n);
  return b->d->se->tag_record(b->d->se->ctx, message, m, out + n);
}

sihl_reason state_write(struct boot *b, const struct boot_state *s) {
  const uint32_t n = encode(s, payload); /* at most 835 bytes (§Boot state), inside BODY_MAX */
  return record_log_append_with(&b->log, n + TAG_BYTES, fill, b, slot) == 0 ? SIHL_OK : SIHL_FLASH_FAULT;
}

void set_text(char *out, const char *text) {
  size_t n = strlen(text);
  if (n > TEXT_MAX) n = TEXT_MAX;
  memmove(out, text, n);
  out[n] = '\0';
}

void firmware_unknown(struct firmware *f) {
  memset(f, 0, sizeof *f);
  set_text(f->version, "unknown");
}

void state_idle(struct boot_state *out, const struct firmware *running, const char *reason) {
  static struct boot_state next; /* `running` and `reason` may point into *out */
  memset(&next, 0, sizeof next);
  next.phase = IDLE;
  next.running = *running;
  firmware_unknown(&next.previous);
  set_text(next.reason, reason);
  *out = next;
}
