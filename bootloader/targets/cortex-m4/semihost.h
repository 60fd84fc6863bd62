/* Arm semihosting: the bootloader's console, its flash file and its exit code when it runs in QEMU
 * (or under a debug probe). Only the calls the target needs, without newlib's stdio. */
#ifndef SIHL_SEMIHOST_H
#define SIHL_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

enum {
  SH_MODE_RB = 1, /* "rb" */
  SH_MODE_WB = 5  /* "wb" */
};

int sh_open(const char *path, int mode);
int sh_close(int fd);
/** Bytes not transferred (0 when all were), as the semihosting calls answer. */
size_t sh_read(int fd, void *buf, size_t len);
size_t sh_write(int fd, const void *buf, size_t len);
long sh_flen(int fd);
/** The command line given by QEMU's -semihosting-config arg=…; 0 on success. */
int sh_cmdline(char *buf, size_t len);
void sh_puts(const char *text);
void sh_put_u32(uint32_t value);
/** A label and a number after it: sh_put_field(" size=", n) prints " size=" then n. */
void sh_put_field(const char *label, uint32_t value);
/** Up to 64 bytes as lowercase hex digits. */
void sh_put_hex(const uint8_t *bytes, uint32_t n);
/** Ends the program with this exit status (QEMU exits with it). */
__attribute__((noreturn)) void sh_exit(int status);

#endif
