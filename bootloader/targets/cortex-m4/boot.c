/* The bootloader on the board: one power-on. Sets up the ports over the flash file, runs the core's boot
 * (docs/BOOT.md), reports through semihosting and writes the flash back. Command line, besides the
 * board's: slot=BYTES staging=BYTES model=NAME. */
#include <stdint.h>

#include "board.h"
#include "ports.h"
#include "semihost.h"
#include "sihl/sihl.h"

static struct sihl_work work;

int main(void) {
  static nor_flash nor;
  static struct board_ports ports;
  static char model[65];
  board_start(&nor);
  const char *m = board_arg("model");
  for (uint32_t i = 0; m != 0 && m[i] != ' ' && m[i] != '\0' && i + 1 < sizeof model; i++) model[i] = m[i];
  if (board_ports_open(&ports, &nor, board_number("slot", 0), board_number("staging", 0)) != 0) {
    sh_puts("the layout does not fit the flash, or the secure element is damaged\n");
    board_finish(&nor, EXIT_USAGE);
  }
  const struct sihl_device device = {
      &ports.flash,  &ports.se,     &ports.platform,      ports.boot_state, ports.executable,
      ports.backup, ports.staging, model[0] ? model : 0, &work,
  };
  struct sihl_boot_report report;
  const uint64_t start = board_instructions();
  const sihl_reason result = sihl_boot(&device, &report);
  const uint64_t instructions = board_instructions() - start;
  sh_puts("boot result=");
  sh_puts(sihl_reason_name(result));
  if (result == SIHL_OK) {
    sh_puts(" outcome=");
    static const char *const outcomes[] = {"booted", "rejected", "reverted", "halted"};
    sh_puts(outcomes[(unsigned)report.outcome & 3u]);
    sh_puts(" reason=");
    sh_puts(sihl_reason_name(report.reason));
    sh_put_field(" installed=", (uint32_t)report.installed);
    sh_put_field(" trial=", (uint32_t)report.trial);
    sh_put_field(" attempts=", report.attempts);
    sh_put_field(" running-size=", (uint32_t)report.running_size);
    sh_put_field(" intact=", (uint32_t)report.intact);
    sh_puts(" sha256=");
    sh_put_hex(report.running_digest, 32);
  }
  sh_put_field(" instructions=", (uint32_t)(instructions > UINT32_MAX ? UINT32_MAX : instructions));
  sh_puts("\n");
  board_finish(&nor, result == SIHL_OK ? EXIT_OK : EXIT_FAILED);
}
