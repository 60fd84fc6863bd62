/* docs/BOOT.md §Install and §Rejection: the checks that need no payload byte (steps 1-6), the backup of
 * the running firmware (step 8), one streaming pass from staging into the executable slot with every
 * stored chunk authenticated by the core before it is used (step 10), the proof, and the trial. */
#include <string.h>

#include "boot.h"
#include "semver.h"
#include "sodium/crypto_hash_sha256.h"
#include "sodium/utils.h"

#define IMAGE_CONTEXT_BYTES 14u /* work->message is "sihl/v1/image\0" || manifest (sihl.h) */

/* What steps 1-6 leave for the rest. */
struct prepared {
  struct sihl_image image;
  struct sihl_trust trust;
  uint8_t key[32];
  int encrypted;
};

static struct prepared p;

struct staged {
  const struct sihl_flash *flash;
  uint32_t offset;
};

static int staged_read(void *ctx, uint64_t offset, uint8_t *out, size_t length) {
  const struct staged *st = ctx;
  return st->flash->read(st->flash->ctx, st->offset + (uint32_t)offset, out, (uint32_t)length);
}

static int refusal(sihl_reason r) { return r != SIHL_OK && r != SIHL_FLASH_FAULT && r != SIHL_INTERNAL; }

/* Steps 4-6 once the image is verified. */
static sihl_reason check_image(const struct boot *b, const struct boot_state *s) {
  const struct sihl_image *v = &p.image;
  uint8_t digest[32];
  if (v->manifest_length > SIHL_MANIFEST_MAX) return SIHL_INTERNAL;
  crypto_hash_sha256(digest, b->d->work->message + IMAGE_CONTEXT_BYTES, v->manifest_length);
  if (memcmp(digest, s->staged_manifest, 32) != 0) return SIHL_STAGING_MISMATCH;
  if (!semver_rises(s->running.version, v->version, (v->flags & 1u) != 0)) return SIHL_VERSION_ROLLBACK;
  if (v->plaintext_size > b->d->executable.size || v->chunk_size > SIHL_CHUNK_MAX) return SIHL_LIMIT_EXCEEDED;
  return SIHL_OK;
}

static sihl_reason open_envelope(const struct boot *b, const struct boot_state *s) {
  const struct sihl_flash *f = b->d->flash;
  uint8_t envelope[SIHL_ENVELOPE_BYTES];
  p.encrypted = p.image.encryption != SIHL_ENCRYPTION_NONE;
  if (!p.encrypted) return SIHL_OK;
  if (s->staged_envelope != SIHL_ENVELOPE_BYTES)
    return s->staged_envelope == 0 ? SIHL_ENVELOPE_REQUIRED : SIHL_ENVELOPE_MALFORMED;
  if (f->read(f->ctx, b->d->staging.offset + s->staged_image, envelope, sizeof envelope) != 0)
    return SIHL_FLASH_FAULT;
  return sihl_open_envelope(envelope, &p.image, b->d->se, p.key);
}

/* Steps 1-6: writes nothing. */
static sihl_reason prepare(const struct boot *b, const struct boot_state *s, const struct sihl_reader *image) {
  if (s->staged_image == 0 || (uint64_t)s->staged_image + s->staged_envelope > b->d->staging.size)
    return SIHL_STAGING_INVALID;
  if (b->d->se->trust(b->d->se->ctx, &p.trust) != 0) return SIHL_SECURE_ELEMENT_DAMAGED;
  const struct sihl_expect expect = {b->d->model, p.trust.security_counter, 1};
  sihl_reason r = sihl_verify(image, &p.trust, &expect, b->d->work, &p.image);
  if (r == SIHL_OK) r = check_image(b, s);
  if (r == SIHL_OK) r = open_envelope(b, s);
  return r;
}

/* §Rejection: the slot was not touched; the reason is recorded and staging erased. */
static sihl_reason reject(struct boot *b, struct boot_state *s, sihl_reason code) {
  const char *reason = sihl_reason_name(code);
  s->phase = REJECTED;
  set_text(s->reason, reason);
  if (state_write(b, s) != SIHL_OK || erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  const uint32_t attempts = s->attempts;
  static struct boot_state next;
  state_idle(&next, &s->running, reason);
  if (state_write(b, &next) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_REJECTED, &next.running, reason, attempts, 0);
}

/* Steps 8-9: the running firmware into the backup slot, proven. */
static sihl_reason backup(struct boot *b, struct boot_state *s) {
  const struct sihl_device *d = b->d;
  uint8_t digest[32];
  sihl_reason r = copy_slot(d->flash, d->executable, d->backup, s->previous.size, digest);
  if (r != SIHL_OK) return r;
  if (s->previous.size > 0 && memcmp(digest, s->previous.digest, 32) != 0)
    return reject(b, s, SIHL_SLOT_NOT_INTACT);
  if (s->previous.size > 0 && slot_holds(d->flash, d->backup, s->previous.size, s->previous.digest) != 1)
    return SIHL_INTERNAL; /* flash that does not hold what was written: the next boot copies again */
  s->phase = WRITING;
  return state_write(b, s);
}

/* Steps 10-12: the streaming pass, the old firmware's tail, the proof. */
static sihl_reason write_slot(struct boot *b, const struct sihl_reader *image) {
  const struct sihl_device *d = b->d;
  struct sector_writer w = {d->flash, d->executable, 0, 0, 0};
  const struct sihl_writer out = {&w, sector_write};
  sihl_reason r = sihl_unpack(image, &p.image, p.encrypted ? p.key : 0, d->work, &out);
  sodium_memzero(p.key, sizeof p.key);
  if (r == SIHL_OK && sector_finish(&w) != 0) r = SIHL_FLASH_FAULT;
  return r;
}

static sihl_reason prove_new(struct boot *b, const struct boot_state *s) {
  const struct sihl_device *d = b->d;
  const uint32_t size = (uint32_t)p.image.plaintext_size;
  const uint32_t old_end = s->previous.size == 0 ? d->executable.size : s->previous.size;
  if (erase_range(d->flash, d->executable, size, old_end > size ? old_end : size) != SIHL_OK)
    return SIHL_FLASH_FAULT;
  const int holds = slot_holds(d->flash, d->executable, size, p.image.plaintext_digest);
  return holds < 0 ? SIHL_FLASH_FAULT : holds == 0 ? SIHL_INTERNAL : SIHL_OK; /* INTERNAL: stays writing */
}

/* Step 13: running = the new firmware; the advance for the confirmation. */
static void installed(struct boot_state *s) {
  const struct sihl_image *v = &p.image;
  s->phase = INSTALLED;
  s->running.size = (uint32_t)v->plaintext_size;
  memcpy(s->running.digest, v->plaintext_digest, 32);
  set_text(s->running.version, v->version);
  s->security_version = v->security_version;
  s->delegation_version = v->delegation_version;
  if (v->root.version > p.trust.root.version) s->root = v->root;
  else memset(&s->root, 0, sizeof s->root);
}

sihl_reason install(struct boot *b, struct boot_state *s) {
  struct staged st = {b->d->flash, b->d->staging.offset};
  const struct sihl_reader image = {&st, s->staged_image, staged_read};
  sihl_reason r = prepare(b, s, &image);
  if (refusal(r)) {
    sodium_memzero(p.key, sizeof p.key);
    return s->phase == WRITING ? revert(b, s, sihl_reason_name(r)) : reject(b, s, r);
  }
  if (r != SIHL_OK) return r;
  if (s->attempts < 255) s->attempts++;
  s->reason[0] = '\0';
  if (s->phase == PENDING) {
    s->phase = BACKUP;
    s->previous = s->running;
  }
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  if (s->phase == BACKUP && ((r = backup(b, s)) != SIHL_OK || s->phase != WRITING)) return r;
  r = write_slot(b, &image);
  if (refusal(r)) return revert(b, s, sihl_reason_name(r));
  if (r != SIHL_OK || (r = prove_new(b, s)) != SIHL_OK) return r;
  installed(s);
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return start_trial(b, s, 1);
}

/* Step 14: staging erased, the new firmware starts on trial. */
sihl_reason start_trial(struct boot *b, struct boot_state *s, int proven) {
  if (erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  s->phase = TRIAL;
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_BOOTED, &s->running, "", s->attempts, FINISH_INSTALLED | FINISH_TRIAL | (proven ? FINISH_PROVEN : 0));
}
