/* The secure element port on the target, on the flash of a device made by `sihl sim device create`:
 * prints what it reads (box public key, pinned root, counters), then raises the counters 70 times (the
 * counter log fills a sector and moves to the other), tries to lower them, pins a newer root and tries an
 * older one. The QEMU test reads the result back with the TypeScript secure element. Command line,
 * besides the board's: slot=BYTES staging=BYTES. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ports.h"
#include "semihost.h"
#include "sodium/crypto_hash_sha256.h"

static struct board_ports ports;

static void show(const char *what) {
  static struct sihl_trust trust;
  sh_puts(what);
  if (ports.se.trust(ports.se.ctx, &trust) != 0) {
    sh_puts(" damaged\n");
    return;
  }
  uint8_t id[32];
  crypto_hash_sha256(id, trust.root.keys[0], 32);
  sh_puts(" root-version=");
  sh_put_u32(trust.root.version);
  sh_puts(" threshold=");
  sh_put_u32(trust.root.threshold);
  sh_puts(" keys=");
  sh_put_u32(trust.root.key_count);
  sh_puts(" key-id=");
  sh_put_hex(id, 32);
  sh_puts(" security=");
  sh_put_u32(trust.security_counter);
  sh_puts(" delegation=");
  sh_put_u32(trust.delegation_version);
  sh_puts("\n");
}

int main(void) {
  static nor_flash nor;
  board_start(&nor);
  if (board_ports_open(&ports, &nor, board_number("slot", 0), board_number("staging", 0)) != 0) {
    sh_puts("the layout does not fit the flash, or the secure element is damaged\n");
    return EXIT_USAGE;
  }
  uint8_t box[32];
  sh_puts("box=");
  if (ports.se.box_public_key(ports.se.ctx, box) == 0) sh_put_hex(box, 32);
  sh_puts("\n");
  show("provisioned");
  for (uint32_t i = 1; i <= 70; i++) {
    if (ports.se.advance(ports.se.ctx, i, 2, 0) != 0) board_finish(&nor, EXIT_FAILED);
  }
  show("raised");
  if (ports.se.advance(ports.se.ctx, 3, 1, 0) != 0) board_finish(&nor, EXIT_FAILED);
  show("not-lowered");
  static struct sihl_keyset root;
  root.version = 2;
  root.threshold = 1;
  root.key_count = 1;
  memset(root.keys[0], 0x42, 32);
  if (ports.se.advance(ports.se.ctx, 70, 2, &root) != 0) board_finish(&nor, EXIT_FAILED);
  show("pinned");
  root.version = 1;
  memset(root.keys[0], 0x13, 32);
  if (ports.se.advance(ports.se.ctx, 70, 2, &root) != 0) board_finish(&nor, EXIT_FAILED);
  show("older-root");
  board_finish(&nor, EXIT_OK);
}
