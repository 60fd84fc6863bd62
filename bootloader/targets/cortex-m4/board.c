/* The flash file and the command line: QEMU gives the program its arguments through semihosting, and the
 * flash file stands for the NOR flash that keeps its contents across a power cycle. */
#include "board.h"

#include <string.h>

#include "semihost.h"

extern uint8_t __nor_start[], __nor_size[];

static char cmdline[512];
static const char *flash_path;

const char *board_arg(const char *name) {
  const size_t n = strlen(name);
  for (const char *p = cmdline; *p != '\0';) {
    while (*p == ' ') p++;
    if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == ' ' || p[n] == '\0')) {
      return p[n] == '=' ? p + n + 1 : p + n;
    }
    while (*p != ' ' && *p != '\0') p++;
  }
  return 0;
}

/* An argument's text ends at the next space; copies it to `out` (NUL-terminated). */
static const char *word(const char *name, char *out, size_t len) {
  const char *v = board_arg(name);
  if (v == 0) return 0;
  size_t i = 0;
  while (v[i] != ' ' && v[i] != '\0' && i + 1 < len) {
    out[i] = v[i];
    i++;
  }
  out[i] = '\0';
  return out;
}

uint32_t board_number(const char *name, uint32_t fallback) {
  char text[12];
  if (word(name, text, sizeof text) == 0) return fallback;
  uint32_t value = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || value > 429496728u) return 0;
    value = value * 10u + (uint32_t)(*p - '0');
  }
  return value;
}

static __attribute__((noreturn)) void usage(const char *why) {
  sh_puts("usage: flash=PATH sector=N write=N [cut=N] [tear]: ");
  sh_puts(why);
  sh_puts("\n");
  sh_exit(EXIT_USAGE);
}

static void power_cut(nor_flash *flash) {
  sh_puts("power cut after operation ");
  sh_put_u32(flash->operations);
  sh_puts("\n");
  board_finish(flash, EXIT_POWER_CUT);
}

void board_start(nor_flash *flash) {
  static char path[400];
  if (sh_cmdline(cmdline, sizeof cmdline) != 0) usage("no command line");
  flash_path = word("flash", path, sizeof path);
  if (flash_path == 0) usage("no flash file");
  const int fd = sh_open(flash_path, SH_MODE_RB);
  if (fd < 0) usage("cannot open the flash file");
  const long size = sh_flen(fd);
  if (size <= 0 || (unsigned long)size > (unsigned long)__nor_size) usage("flash file size");
  if (sh_read(fd, __nor_start, (size_t)size) != 0) usage("cannot read the flash file");
  sh_close(fd);
  memset(flash, 0, sizeof *flash);
  flash->memory = __nor_start;
  flash->size = (uint32_t)size;
  flash->sector_size = board_number("sector", 4096);
  flash->write_size = board_number("write", 8);
  flash->cut_after = board_number("cut", 0);
  flash->tear = board_arg("tear") != 0;
  flash->power_cut = power_cut;
  if (nor_check_geometry(flash) != 0) usage("geometry");
}

void board_persist(const nor_flash *flash) {
  const int fd = sh_open(flash_path, SH_MODE_WB);
  if (fd < 0 || sh_write(fd, flash->memory, flash->size) != 0) {
    sh_puts("cannot write the flash file back\n");
    sh_exit(EXIT_USAGE);
  }
  sh_close(fd);
}

void board_finish(const nor_flash *flash, int status) {
  board_persist(flash);
  sh_puts("flash operations ");
  sh_put_u32(flash->operations);
  sh_puts(" (erases ");
  sh_put_u32(flash->erases);
  sh_puts(", programs ");
  sh_put_u32(flash->programs);
  sh_puts(")\nstack high-water ");
  sh_put_u32(board_stack_used());
  sh_puts(" bytes\n");
  sh_exit(status);
}

/* libsodium calls this on a misuse it cannot report otherwise (an argument out of range); its own
 * version lives in a file that also brings in threads and a random source. Weak: the core may bring one. */
__attribute__((weak, noreturn)) void sodium_misuse(void) {
  sh_puts("libsodium misuse\n");
  sh_exit(EXIT_FAULT);
}

/* newlib's abort raises a signal through a process model the board does not have. */
void abort(void) {
  sh_puts("abort\n");
  sh_exit(EXIT_FAULT);
}

/* A failed assert() in third-party code: report it without newlib's stdio and stop. */
void __assert_func(const char *file, int line, const char *func, const char *expression) {
  (void)func;
  sh_puts("assertion failed: ");
  sh_puts(expression);
  sh_puts(" at ");
  sh_puts(file);
  sh_puts(":");
  sh_put_u32((uint32_t)line);
  sh_puts("\n");
  sh_exit(EXIT_FAULT);
}
