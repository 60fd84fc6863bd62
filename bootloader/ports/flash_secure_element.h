/* A secure element port over flash, shared by the Cortex-M4 board and the host's sihl-boot:
 * docs/BOOT.md §Secure element's five-sector region of the flash
 * (provisioning sector, counter log, pinned-root log), as `sihl sim device create` provisions it. On a
 * part with a real secure element (or TrustZone secure flash) the same port would call into it; here the
 * keys sit in the region, and the X25519 secret key is used by libsodium's sealed box in this port only. */
#ifndef SIHL_FLASH_SECURE_ELEMENT_H
#define SIHL_FLASH_SECURE_ELEMENT_H

#include <stdint.h>

#include "sihl/record_log.h"
#include "sihl/secure_element.h"

struct flash_secure_element {
  struct record_log counters, roots;
  uint8_t box_public[32];
  uint8_t box_secret[32];
  uint8_t record_key[32]; /* docs/BOOT.md §Boot state: the key of the boot-state records' tags */
};

/**
 * Reads the provisioning sector at `offset` (the region's first sector) and fills `port`. 0 on success;
 * non-zero when the region is damaged (a length, magic or CRC that does not match).
 */
int flash_secure_element_open(struct flash_secure_element *se, const struct sihl_flash *flash, uint32_t offset,
                              struct sihl_secure_element *port);

#endif
