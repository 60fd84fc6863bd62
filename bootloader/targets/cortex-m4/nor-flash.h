/* NOR flash rules kept on a plain memory region, since QEMU emulates no flash controller for the MPS2
 * boards: erase sets a whole sector to 0xFF; a program operation is aligned to the write size and goes
 * only into erased words (parts with ECC refuse to program a word twice, so this port refuses it too);
 * everything stays inside the region. Every erase and program is counted, and a power cut can be armed
 * to fall after the n-th of them (docs/BOOT.md §Power cuts in the simulation). */
#ifndef SIHL_NOR_FLASH_H
#define SIHL_NOR_FLASH_H

#include <stdint.h>

typedef enum {
  NOR_OK = 0,
  NOR_OUTSIDE = 1,    /* an access beyond the end of the flash */
  NOR_MISALIGNED = 2, /* a program not at write-size offsets and lengths, or an erase not at a sector start */
  NOR_NOT_ERASED = 3  /* a program into a word that is not erased */
} nor_result;

typedef struct nor_flash {
  uint8_t *memory;
  uint32_t size;        /* a multiple of the sector size */
  uint32_t sector_size; /* erase unit */
  uint32_t write_size;  /* program unit; divides the sector size */
  uint32_t operations;  /* erases and programs done since power-on */
  uint32_t erases;
  uint32_t programs;
  uint32_t cut_after; /* 0: no cut armed; otherwise the operation that is the last before power goes */
  int tear;           /* whether that last operation is torn half-way */
  /* Called when the armed cut falls: persists the flash and stops the program. */
  void (*power_cut)(struct nor_flash *flash);
} nor_flash;

/** 0 when the geometry is usable: sizes non-zero, write size divides sector size divides flash size. */
int nor_check_geometry(const nor_flash *flash);
nor_result nor_read(const nor_flash *flash, uint32_t offset, void *buf, uint32_t length);
nor_result nor_erase(nor_flash *flash, uint32_t offset);
nor_result nor_program(nor_flash *flash, uint32_t offset, const void *data, uint32_t length);

#endif
