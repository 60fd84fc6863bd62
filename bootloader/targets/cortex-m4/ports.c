/* The core's ports over this board; see ports.h. */
#include "ports.h"

#include "semihost.h"

static int flash_read(void *ctx, uint32_t offset, uint8_t *out, uint32_t length) {
  return nor_read(ctx, offset, out, length) == NOR_OK ? 0 : -1;
}

static int flash_program(void *ctx, uint32_t offset, const uint8_t *data, uint32_t length) {
  return nor_program(ctx, offset, data, length) == NOR_OK ? 0 : -1;
}

static int flash_erase(void *ctx, uint32_t offset) { return nor_erase(ctx, offset) == NOR_OK ? 0 : -1; }

static uint64_t no_clock(void *ctx) {
  (void)ctx;
  return 0;
}

static void jump(void *ctx, uint32_t offset) {
  struct board_ports *ports = ctx;
  ports->jumped_to = offset;
  sh_puts("jump to flash offset ");
  sh_put_u32(offset);
  sh_puts("\n");
}

static void reset(void *ctx) {
  (void)ctx;
  sh_puts("reset requested\n");
  sh_exit(5);
}

int board_ports_open(struct board_ports *p, nor_flash *nor, uint32_t slot, uint32_t staging) {
  const uint32_t s = nor->sector_size;
  p->flash = (struct sihl_flash){{nor->size, s, nor->write_size}, nor, flash_read, flash_program, flash_erase};
  p->platform = (struct sihl_platform){p, no_clock, jump, reset};
  p->jumped_to = UINT32_MAX;
  /* docs/BOOT.md §Layout: boot state (2 sectors), secure element (5), executable slot, backup slot (as
   * large), staging slot. */
  if (slot == 0 || staging == 0 || slot % s != 0 || staging % s != 0) return -1;
  if ((uint64_t)7 * s + 2u * (uint64_t)slot + staging != nor->size) return -1;
  p->boot_state = (struct sihl_region){0, 2 * s};
  p->secure_element = (struct sihl_region){2 * s, 5 * s};
  p->executable = (struct sihl_region){7 * s, slot};
  p->backup = (struct sihl_region){7 * s + slot, slot};
  p->staging = (struct sihl_region){7 * s + 2 * slot, staging};
  return flash_secure_element_open(&p->se_state, &p->flash, p->secure_element.offset, &p->se);
}
