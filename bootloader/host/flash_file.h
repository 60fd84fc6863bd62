/* The host's flash port (docs/BOOTLOADER-C.md §Host boot): the flash file of a `sihl sim device`
 * folder (flash.bin, the whole NOR flash byte for byte) held in memory with the rules of
 * src/device/flash/simulated-flash.ts: a write is aligned to the write size and may only turn 1 bits
 * into 0, an erase starts at a sector, nothing outside the flash; a refused operation changes nothing.
 * Every erase and write can be traced (the test harness replays the trace through the TypeScript
 * flash, which is where power cuts and torn operations are applied), and one read of the staging slot
 * can be changed on its way to the bootloader (an attacker on the bus of an external flash chip). */
#ifndef SIHL_HOST_FLASH_FILE_H
#define SIHL_HOST_FLASH_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "sihl/flash.h"

enum tamper_mode { TAMPER_NONE, TAMPER_ONCE, TAMPER_PERMANENT };
enum tamper_where { TAMPER_FIRST, TAMPER_MIDDLE, TAMPER_LAST };

struct flash_file {
    uint8_t *memory;
    struct sihl_flash_geometry geometry;
    struct sihl_region staging;
    uint32_t operations, writes, erases;
    FILE *trace; /* NULL: no trace. Records: 'E' u32 offset | 'P' u32 offset, u32 length, the bytes */
    /* Reads of staging (those of at least one byte that overlap it), counted from 1 as
     * test/device/matrix-support.ts counts them; the one numbered tamper_read is changed. */
    uint32_t staging_reads, tamper_read, install_reads;
    int install_reads_known;
    enum tamper_mode tamper_mode;
    enum tamper_where tamper_where;
};

/* Fills `port` with the flash's functions over `f`. */
void flash_file_port(struct flash_file *f, struct sihl_flash *port);

#endif
