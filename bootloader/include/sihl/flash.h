/* The flash port: what the bootloader may do with NOR flash (docs/BOOTLOADER-C.md §Ports).
 * Erase sets one whole sector to 0xFF; program can only turn 1 bits into 0, at write-size alignment.
 * Offsets are from the start of the flash device. Every function returns 0 on success, non-zero on a
 * fault (the core then stops and reports SIHL_FLASH_FAULT; it never retries on its own). */
#ifndef SIHL_FLASH_H
#define SIHL_FLASH_H

#include <stddef.h>
#include <stdint.h>

struct sihl_flash_geometry {
    uint32_t size;        /* total bytes, a multiple of sector_size */
    uint32_t sector_size; /* erase unit, e.g. 4096 */
    uint32_t write_size;  /* program unit: offsets and lengths are multiples of it, e.g. 8 */
};

struct sihl_flash {
    struct sihl_flash_geometry geometry;
    void *ctx;
    int (*read)(void *ctx, uint32_t offset, uint8_t *out, uint32_t length);
    int (*program)(void *ctx, uint32_t offset, const uint8_t *data, uint32_t length);
    /* Erases the sector that starts at offset (a multiple of sector_size). */
    int (*erase)(void *ctx, uint32_t offset);
};

/* A contiguous part of flash, in whole sectors. */
struct sihl_region {
    uint32_t offset;
    uint32_t size;
};

#endif
