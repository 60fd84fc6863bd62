/* docs/BOOT.md §Secure element on a device's flash; see flash_secure_element.h. */
#include "flash_secure_element.h"

#include <string.h>

#include "sihl/sihl.h"
#include "sodium/crypto_auth.h"
#include "sodium/crypto_scalarmult_curve25519.h"
#include "sodium/utils.h"

#define PROVISION_MAGIC 0x53454c31u
#define PROVISION_BODY 100u /* magic, Ed25519 seed, X25519 secret key, boot-state record key */
#define COUNTER_RECORD 64u

/* One scratch slot for either log: a root record fills a whole sector. */
static uint8_t slot[4096];

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int read_counters(struct flash_secure_element *se, uint32_t *security, uint32_t *delegation) {
  uint8_t payload[8];
  uint32_t length = 0;
  /* An empty or unreadable counter log is damage, never zero (§Secure element, Counters). */
  if (record_log_read(&se->counters, payload, sizeof payload, &length, slot) != 1 || length != 8) return -1;
  *security = le32(payload);
  *delegation = le32(payload + 4);
  return 0;
}

static int read_root(struct flash_secure_element *se, struct sihl_keyset *root) {
  static uint8_t payload[6 + 32 * SIHL_KEYS_MAX];
  uint32_t length = 0;
  if (record_log_read(&se->roots, payload, sizeof payload, &length, slot) != 1 || length < 6) return -1;
  const uint32_t count = payload[5];
  if (count == 0 || count > SIHL_KEYS_MAX || length != 6 + 32 * count) return -1;
  if (payload[4] == 0 || payload[4] > count) return -1;
  root->version = le32(payload);
  root->threshold = payload[4];
  root->key_count = (uint8_t)count;
  memcpy(root->keys, payload + 6, 32 * count);
  return 0;
}

static int trust(void *ctx, struct sihl_trust *out) {
  struct flash_secure_element *se = ctx;
  if (read_root(se, &out->root) != 0) return -1;
  return read_counters(se, &out->security_counter, &out->delegation_version);
}

#ifdef SIHL_M4_SIGNED_ONLY
/* A signed-only build opens no envelopes: an encrypted image is refused when its envelope does not open,
 * and the sealed box's code (X25519, XSalsa20-Poly1305, BLAKE2b) stays out of the bootloader. */
static int box_public_key(void *ctx, uint8_t out[32]) {
  (void)ctx;
  memset(out, 0, 32);
  return -1;
}

static int open_sealed(void *ctx, const uint8_t *sealed, size_t sealed_len, uint8_t *out) {
  (void)ctx;
  (void)sealed;
  (void)sealed_len;
  (void)out;
  return -1;
}
#else
static int box_public_key(void *ctx, uint8_t out[32]) {
  struct flash_secure_element *se = ctx;
  memcpy(out, se->box_public, 32);
  return 0;
}

static int open_sealed(void *ctx, const uint8_t *sealed, size_t sealed_len, uint8_t *out) {
  struct flash_secure_element *se = ctx;
  return sihl_open_sealed_with_secret(sealed, sealed_len, se->box_public, se->box_secret, out);
}
#endif

static int advance(void *ctx, uint32_t security_version, uint32_t delegation_version,
                   const struct sihl_keyset *root) {
  struct flash_secure_element *se = ctx;
  /* A newer root first, then the counters: a cut between them repeats the install (§Secure element). */
  if (root != 0) {
    static struct sihl_keyset pinned;
    if (read_root(se, &pinned) != 0) return -1;
    if (root->version > pinned.version) {
      static uint8_t payload[6 + 32 * SIHL_KEYS_MAX];
      if (root->key_count == 0 || root->key_count > SIHL_KEYS_MAX) return -1;
      put_le32(payload, root->version);
      payload[4] = root->threshold;
      payload[5] = root->key_count;
      memcpy(payload + 6, root->keys, 32u * root->key_count);
      if (record_log_append(&se->roots, payload, 6u + 32u * root->key_count, slot) != 0) return -1;
    }
  }
  uint32_t security = 0, delegation = 0;
  if (read_counters(se, &security, &delegation) != 0) return -1;
  if (security_version <= security && delegation_version <= delegation) return 0; /* never lowered */
  uint8_t payload[8];
  put_le32(payload, security_version > security ? security_version : security);
  put_le32(payload + 4, delegation_version > delegation ? delegation_version : delegation);
  return record_log_append(&se->counters, payload, sizeof payload, slot);
}

static int tag_record(void *ctx, const uint8_t *message, size_t length, uint8_t tag[32]) {
  const struct flash_secure_element *se = ctx;
  return crypto_auth(tag, message, length, se->record_key);
}

static int check_record(void *ctx, const uint8_t *message, size_t length, const uint8_t tag[32]) {
  const struct flash_secure_element *se = ctx;
  return crypto_auth_verify(tag, message, length, se->record_key);
}

int flash_secure_element_open(struct flash_secure_element *se, const struct sihl_flash *flash, uint32_t offset,
                              struct sihl_secure_element *port) {
  const uint32_t sector = flash->geometry.sector_size;
  uint8_t head[2 + PROVISION_BODY + 4];
  if (sector > sizeof slot || flash->read(flash->ctx, offset, head, sizeof head) != 0) return -1;
  /* §Secure element, Provisioning sector: length, magic, CRC of the body. */
  if ((uint32_t)(head[0] | head[1] << 8) != PROVISION_BODY) return -1;
  if (le32(head + 2) != PROVISION_MAGIC || crc32_ieee(head + 2, PROVISION_BODY) != le32(head + 2 + PROVISION_BODY))
    return -1;
#ifndef SIHL_M4_SIGNED_ONLY
  memcpy(se->box_secret, head + 38, 32);
  if (crypto_scalarmult_curve25519_base(se->box_public, se->box_secret) != 0) return -1;
#endif
  memcpy(se->record_key, head + 70, 32);
  sodium_memzero(head, sizeof head);
  se->counters = (struct record_log){flash, offset + sector, COUNTER_RECORD, 0, 0};
  se->roots = (struct record_log){flash, offset + 3 * sector, sector, 0, 0};
  *port = (struct sihl_secure_element){se, trust, box_public_key, open_sealed, advance, tag_record, check_record};
  return 0;
}
