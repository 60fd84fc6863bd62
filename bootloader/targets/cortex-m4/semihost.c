/* Arm semihosting through BKPT 0xAB (ARMv7-M): r0 is the operation, r1 points at its parameter block. */
#include "semihost.h"

#include <string.h>

enum {
  SYS_OPEN = 0x01,
  SYS_CLOSE = 0x02,
  SYS_WRITE0 = 0x04,
  SYS_WRITE = 0x05,
  SYS_READ = 0x06,
  SYS_FLEN = 0x0c,
  SYS_GET_CMDLINE = 0x15,
  SYS_EXIT_EXTENDED = 0x20,
  ADP_STOPPED_APPLICATION_EXIT = 0x20026
};

static int call(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

int sh_open(const char *path, int mode) {
  const uint32_t args[3] = {(uint32_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
  return call(SYS_OPEN, args);
}

int sh_close(int fd) {
  const uint32_t args[1] = {(uint32_t)fd};
  return call(SYS_CLOSE, args);
}

size_t sh_read(int fd, void *buf, size_t len) {
  const uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
  return (size_t)call(SYS_READ, args);
}

size_t sh_write(int fd, const void *buf, size_t len) {
  const uint32_t args[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
  return (size_t)call(SYS_WRITE, args);
}

long sh_flen(int fd) {
  const uint32_t args[1] = {(uint32_t)fd};
  return call(SYS_FLEN, args);
}

int sh_cmdline(char *buf, size_t len) {
  uint32_t args[2] = {(uint32_t)buf, (uint32_t)len};
  return call(SYS_GET_CMDLINE, args);
}

void sh_puts(const char *text) { call(SYS_WRITE0, text); }

void sh_put_hex(const uint8_t *bytes, uint32_t n) {
  static const char digits[] = "0123456789abcdef";
  char text[2 * 64 + 1];
  const uint32_t shown = n < 64 ? n : 64;
  for (uint32_t i = 0; i < shown; i++) {
    text[2 * i] = digits[bytes[i] >> 4];
    text[2 * i + 1] = digits[bytes[i] & 15];
  }
  text[2 * shown] = '\0';
  sh_puts(text);
}

void sh_put_u32(uint32_t value) {
  char digits[11];
  char *p = digits + sizeof digits - 1;
  *p = '\0';
  do {
    *--p = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  sh_puts(p);
}

void sh_put_field(const char *label, uint32_t value) {
  sh_puts(label);
  sh_put_u32(value);
}

void sh_exit(int status) {
  const uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
  call(SYS_EXIT_EXTENDED, args);
  for (;;) {
  }
}
