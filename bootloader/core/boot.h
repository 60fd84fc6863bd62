/* docs/BOOT.md (version 2) in the core, shared by its files: boot_state.c (the tagged boot-state
 * records), slot_io.c (reading, writing, copying and proving slots), install.c (§Install, §Rejection) and
 * boot.c (sihl_boot: §Boot, §Revert, §Confirmation's last steps, §Starting). Portable C99, no heap, no
 * recursion; besides struct sihl_work the flow keeps its buffers in static storage (two sectors of
 * SECTOR_MAX bytes, a boot-state record and its message, two states), so one boot runs at a time. */
#ifndef SIHL_BOOT_H
#define SIHL_BOOT_H

#include <stdint.h>

#include "sihl/record_log.h"
#include "sihl/sihl.h"

enum phase { IDLE, PENDING, BACKUP, WRITING, INSTALLED, TRIAL, CONFIRMED, REVERTING, REJECTED };
#define TEXT_MAX 64u
#define SECTOR_MAX 4096u

/* §Boot state: a firmware; size 0 means unknown. */
struct firmware {
  uint32_t size;
  uint8_t digest[32];
  char version[TEXT_MAX + 1];
};

struct boot_state {
  uint8_t phase, attempts;
  struct firmware running, previous;
  uint32_t staged_image, staged_envelope;
  uint8_t staged_manifest[32];
  char reason[TEXT_MAX + 1];
  uint32_t security_version, delegation_version; /* the advance at confirmation */
  struct sihl_keyset root;                       /* key_count 0: no root to pin */
};

/* One boot: the device, its boot-state log and the report being made. */
struct boot {
  const struct sihl_device *d;
  struct record_log log;
  struct sihl_boot_report *report;
};

/* boot_state.c */
void boot_log_open(struct boot *b);
/* 1 with the newest authentic state decoded into *s, 0 when there is none, -1 on a flash fault. */
int state_read(struct boot *b, struct boot_state *s);
/* Appends `s`, tagged; SIHL_OK or SIHL_FLASH_FAULT. */
sihl_reason state_write(struct boot *b, const struct boot_state *s);
/* The idle state that keeps `running` and `reason` (§Phases: everything else zero). */
void state_idle(struct boot_state *out, const struct firmware *running, const char *reason);
void firmware_unknown(struct firmware *f);
void set_text(char *out, const char *text);

/* slot_io.c; every function returns SIHL_OK, SIHL_FLASH_FAULT or SIHL_INTERNAL. */
sihl_reason erase_range(const struct sihl_flash *f, struct sihl_region region, uint32_t from, uint32_t to);
sihl_reason digest_of(const struct sihl_flash *f, struct sihl_region region, uint32_t size, uint8_t out[32]);
sihl_reason copy_slot(const struct sihl_flash *f, struct sihl_region from, struct sihl_region to, uint32_t size,
                      uint8_t digest[32]);
struct sector_writer {
  const struct sihl_flash *flash;
  struct sihl_region region;
  uint32_t filled, next, written;
};
int sector_write(void *ctx, const uint8_t *data, size_t length);
int sector_finish(struct sector_writer *w);
/* 1 when the first `size` bytes of `region` hash to `digest`, 0 when not, -1 on a flash fault. */
int slot_holds(const struct sihl_flash *f, struct sihl_region region, uint32_t size, const uint8_t digest[32]);

/* install.c */
sihl_reason install(struct boot *b, struct boot_state *s);
sihl_reason start_trial(struct boot *b, struct boot_state *s, int proven);

/* boot.c */
sihl_reason revert(struct boot *b, struct boot_state *s, const char *reason);
sihl_reason erase_staged(struct boot *b, const struct boot_state *s);
/* §Starting: proves the slot (unless `proven`), fills the report and jumps unless halted. */
sihl_reason finish(struct boot *b, enum sihl_outcome outcome, const struct firmware *running, const char *reason,
                   uint32_t attempts, int flags);
enum { FINISH_INSTALLED = 1, FINISH_TRIAL = 2, FINISH_PROVEN = 4 };

#endif
