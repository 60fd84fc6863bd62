/* The board around the bootloader in QEMU's mps2-an386: start-up, the flash file that plays the device's
 * NOR flash across power cycles, the stack's high-water mark and an instruction clock. */
#ifndef SIHL_BOARD_H
#define SIHL_BOARD_H

#include <stdint.h>

#include "nor-flash.h"

/** Exit statuses the QEMU harness tells apart. */
enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,    /* the program found an error (its output says which) */
  EXIT_USAGE = 2,     /* bad arguments or flash file */
  EXIT_POWER_CUT = 3, /* the armed cut fell: the flash file holds what the flash held at that instant */
  EXIT_FAULT = 4      /* a CPU fault */
};

/**
 * Reads the command line (`flash=PATH sector=N write=N [cut=N] [tear]`), loads PATH into the NOR region
 * and sets up `flash`; stops the program with EXIT_USAGE when something is wrong.
 */
void board_start(nor_flash *flash);
/** Writes the NOR region back to the flash file: what survives the power cycle. */
void board_persist(const nor_flash *flash);
/** Persists the flash, reports the stack's high-water mark and exits with `status`. */
__attribute__((noreturn)) void board_finish(const nor_flash *flash, int status);
/** Bytes of stack ever used since reset (the painted stack's untouched part excluded). */
uint32_t board_stack_used(void);
/** Instructions executed since reset, under `qemu -icount shift=0` (in 40-instruction steps). */
uint64_t board_instructions(void);
/** The argument after `name=` on the command line, or 0. */
const char *board_arg(const char *name);
/** The decimal number after `name=`; `fallback` when absent, 0 when not a number below 2^32. */
uint32_t board_number(const char *name, uint32_t fallback);

#endif
