/* The core's ports on this board: flash (nor-flash.c under the core's flash interface), the secure
 * element (secure-element.c) and the platform (no clock; the jump is reported, since the application in
 * the executable slot is built for another part), with the docs/BOOT.md §Layout of the flash. */
#ifndef SIHL_M4_PORTS_H
#define SIHL_M4_PORTS_H

#include "nor-flash.h"
#include "flash_secure_element.h"
#include "sihl/sihl.h"

struct board_ports {
  struct sihl_flash flash;
  struct sihl_platform platform;
  struct sihl_secure_element se;
  struct flash_secure_element se_state;
  struct sihl_region boot_state, secure_element, executable, backup, staging;
  uint32_t jumped_to; /* the offset the core asked to start, or UINT32_MAX */
};

/**
 * Sets up the ports over `nor` with the layout for an executable slot of `slot` bytes and a staging slot
 * of `staging` bytes (both whole sectors); 0 on success, non-zero when they do not fit or the secure
 * element's region is damaged.
 */
int board_ports_open(struct board_ports *ports, nor_flash *nor, uint32_t slot, uint32_t staging);

#endif
