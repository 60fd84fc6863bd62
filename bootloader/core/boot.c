/* docs/BOOT.md (version 2)'s boot over the core's public API (sihl_verify, sihl_open_envelope,
 * sihl_unpack) and its ports: §Boot, §Revert, §Confirmation (steps 2-3, after a cut), §Damaged boot
 * state and §Starting; §Install is install.c, the records boot_state.c, the slots slot_io.c. Shared by every
 * target (the Cortex-M4 board, the host's sihl-boot). Portable C99, no heap, no recursion; the buffers
 * are static. */
#include <string.h>

#include "boot.h"

static sihl_reason reason_of(const char *name) {
  for (int r = 0; r < SIHL_REASON_COUNT; r++)
    if (strcmp(sihl_reason_name((sihl_reason)r), name) == 0) return (sihl_reason)r;
  return SIHL_INTERNAL;
}

/* "Erase the staged bytes": the sectors of staging before image + envelope (clamped), not erased. */
sihl_reason erase_staged(struct boot *b, const struct boot_state *s) {
  const uint64_t end = (uint64_t)s->staged_image + s->staged_envelope;
  const uint32_t to = end > b->d->staging.size ? b->d->staging.size : (uint32_t)end;
  return erase_range(b->d->flash, b->d->staging, 0, to);
}

sihl_reason finish(struct boot *b, enum sihl_outcome outcome, const struct firmware *running, const char *reason,
                   uint32_t attempts, int flags) {
  const struct sihl_device *d = b->d;
  struct sihl_boot_report *report = b->report;
  const int known = running->size > 0 && running->size <= d->executable.size;
  int intact = 0;
  if (known) {
    intact = (flags & FINISH_PROVEN) ? 1 : slot_holds(d->flash, d->executable, running->size, running->digest);
    if (intact < 0) return SIHL_FLASH_FAULT;
  }
  memset(report, 0, sizeof *report);
  report->outcome = known && !intact ? SIHL_HALTED : outcome;
  report->reason = reason[0] ? reason_of(reason) : SIHL_OK;
  report->installed = (flags & FINISH_INSTALLED) != 0;
  report->trial = (flags & FINISH_TRIAL) != 0;
  report->attempts = attempts;
  report->running_size = running->size;
  memcpy(report->running_digest, running->digest, 32);
  report->intact = intact;
  /* §Starting: a slot that is not what the boot state records is never started. */
  if (report->outcome != SIHL_HALTED) d->platform->jump(d->platform->ctx, d->executable.offset);
  return SIHL_OK;
}

/* §Revert step 3 when the backup is not proven: a trial whose own slot is whole keeps running. */
static sihl_reason backup_damaged(struct boot *b, struct boot_state *s, uint8_t phase_before) {
  const struct sihl_device *d = b->d;
  const int whole = s->running.size > 0 && s->running.size <= d->executable.size
                        ? slot_holds(d->flash, d->executable, s->running.size, s->running.digest)
                        : 0;
  if (whole < 0) return SIHL_FLASH_FAULT;
  if (!whole || phase_before == WRITING) return SIHL_INTERNAL;
  if (erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  const uint32_t attempts = s->attempts;
  state_idle(s, &s->running, "BACKUP_DAMAGED");
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_REJECTED, &s->running, "BACKUP_DAMAGED", attempts, FINISH_PROVEN);
}

/* §Revert steps 4-7: the backup back into the executable slot, proven. */
static sihl_reason restore(struct boot *b, struct boot_state *s, enum sihl_outcome outcome) {
  const struct sihl_device *d = b->d;
  const uint32_t size = s->previous.size;
  uint8_t digest[32];
  sihl_reason r = copy_slot(d->flash, d->backup, d->executable, size, digest);
  if (r == SIHL_OK) r = erase_range(d->flash, d->executable, size, d->executable.size);
  if (r != SIHL_OK) return r;
  const int holds = slot_holds(d->flash, d->executable, size, s->previous.digest);
  if (holds != 1) return holds < 0 ? SIHL_FLASH_FAULT : SIHL_INTERNAL; /* the next boot reverts again */
  if (erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  const uint32_t attempts = s->attempts;
  state_idle(s, &s->previous, s->reason);
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, outcome, &s->running, s->reason, attempts, FINISH_PROVEN);
}

sihl_reason revert(struct boot *b, struct boot_state *s, const char *reason) {
  const struct sihl_device *d = b->d;
  const enum sihl_outcome outcome = strcmp(reason, "TRIAL_NOT_CONFIRMED") == 0 ? SIHL_REVERTED : SIHL_REJECTED;
  const uint8_t phase_before = s->phase;
  set_text(s->reason, reason);
  if (phase_before != REVERTING) {
    s->phase = REVERTING;
    if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  }
  const uint32_t attempts = s->attempts;
  if (s->previous.size == 0) { /* the firmware before was unknown: nothing to go back to */
    if (erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
    struct firmware unknown;
    firmware_unknown(&unknown);
    state_idle(s, &unknown, s->reason);
    if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
    return finish(b, outcome, &s->running, s->reason, attempts, 0);
  }
  const int proven = slot_holds(d->flash, d->backup, s->previous.size, s->previous.digest);
  if (proven < 0) return SIHL_FLASH_FAULT;
  return proven ? restore(b, s, outcome) : backup_damaged(b, s, phase_before);
}

/* §Damaged boot state: nothing staged can be trusted; the executable slot is left alone. */
static sihl_reason damaged(struct boot *b, struct boot_state *s) {
  if (erase_range(b->d->flash, b->d->staging, 0, b->d->staging.size) != SIHL_OK) return SIHL_FLASH_FAULT;
  struct firmware unknown;
  firmware_unknown(&unknown);
  state_idle(s, &unknown, "BOOT_STATE_CORRUPT");
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_REJECTED, &s->running, s->reason, 0, 0);
}

/* §Confirmation steps 2-3, when power was lost between them. */
static sihl_reason confirmed(struct boot *b, struct boot_state *s) {
  const struct sihl_secure_element *se = b->d->se;
  if (se->advance(se->ctx, s->security_version, s->delegation_version, s->root.key_count ? &s->root : 0) != 0)
    return SIHL_FLASH_FAULT;
  state_idle(s, &s->running, "");
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_BOOTED, &s->running, "", 0, 0);
}

/* Power was lost while staging was being erased after a refusal: finish that. */
static sihl_reason rejected(struct boot *b, struct boot_state *s) {
  if (erase_staged(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  state_idle(s, &s->running, s->reason);
  if (state_write(b, s) != SIHL_OK) return SIHL_FLASH_FAULT;
  return finish(b, SIHL_REJECTED, &s->running, s->reason, 0, 0);
}

sihl_reason sihl_boot(const struct sihl_device *d, struct sihl_boot_report *report) {
  static struct boot_state s;
  struct boot b = {d, {0, 0, 0, 0, 0}, report};
  boot_log_open(&b);
  const int found = state_read(&b, &s);
  if (found < 0) return SIHL_FLASH_FAULT;
  /* A record whose sizes do not fit the slots cannot be acted on: as damaged as none at all. */
  if (found == 0 || s.running.size > d->executable.size || s.previous.size > d->executable.size)
    return damaged(&b, &s);
  switch (s.phase) {
    case PENDING:
    case BACKUP:
    case WRITING:
      return install(&b, &s);
    case INSTALLED:
      return start_trial(&b, &s, 0);
    case TRIAL:
      return revert(&b, &s, "TRIAL_NOT_CONFIRMED");
    case REVERTING:
      return revert(&b, &s, s.reason);
    case CONFIRMED:
      return confirmed(&b, &s);
    case REJECTED:
      return rejected(&b, &s);
    default:
      return finish(&b, SIHL_BOOTED, &s.running, "", 0, 0);
  }
}
