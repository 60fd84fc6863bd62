/* The install's three costs on the Cortex-M4, counted in instructions (qemu -icount shift=0): verifying
 * the staged image (FORMAT.md §Verification: signatures, root chain and the payload's digest), opening its
 * key envelope, and unpacking it (decrypting, decompressing, undoing the filter, both digests) into a
 * writer that drops the bytes, as the install's dry run does. The flash file is a device made by
 * `sihl sim device create` with an image staged; command line, besides the board's:
 * slot=BYTES staging=BYTES model=NAME image=BYTES envelope=BYTES. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ports.h"
#include "semihost.h"
#include "sihl/sihl.h"

static struct sihl_work work;
static struct board_ports ports;

static int staging_read(void *ctx, uint64_t offset, uint8_t *out, size_t length) {
  (void)ctx;
  if (offset > ports.staging.size || length > ports.staging.size - offset) return -1;
  return ports.flash.read(ports.flash.ctx, ports.staging.offset + (uint32_t)offset, out, (uint32_t)length);
}

static uint64_t written;
static int discard(void *ctx, const uint8_t *data, size_t length) {
  (void)ctx;
  (void)data;
  written += length;
  return 0;
}

static void step(const char *name, sihl_reason result, uint64_t instructions, uint64_t bytes) {
  sh_puts(name);
  sh_puts(" result=");
  sh_puts(sihl_reason_name(result));
  sh_put_field(" bytes=", (uint32_t)bytes);
  sh_put_field(" insns=", (uint32_t)instructions);
  sh_put_field(" stack=", board_stack_used());
  sh_puts("\n");
}

int main(void) {
  static nor_flash nor;
  static char model[65];
  board_start(&nor);
  const char *m = board_arg("model");
  for (uint32_t i = 0; m != 0 && m[i] != ' ' && m[i] != '\0' && i + 1 < sizeof model; i++) model[i] = m[i];
  const uint32_t image_bytes = board_number("image", 0), envelope_bytes = board_number("envelope", 0);
  if (board_ports_open(&ports, &nor, board_number("slot", 0), board_number("staging", 0)) != 0 ||
      (uint64_t)image_bytes + envelope_bytes > ports.staging.size) {
    sh_puts("the layout does not fit the flash, or the secure element is damaged\n");
    return EXIT_USAGE;
  }
  static struct sihl_trust trust;
  if (ports.se.trust(ports.se.ctx, &trust) != 0) {
    sh_puts("the secure element's counters are damaged\n");
    return EXIT_FAILED;
  }
  const struct sihl_reader image = {0, image_bytes, staging_read};
  const struct sihl_expect expect = {model, trust.security_counter, 0};
  static struct sihl_image verified;

  uint64_t t0 = board_instructions();
  sihl_reason r = sihl_verify(&image, &trust, &expect, &work, &verified);
  step("verify", r, board_instructions() - t0, image_bytes);
  if (r != SIHL_OK) return EXIT_FAILED;

  uint8_t key[32];
  const uint8_t *use_key = 0;
  if (verified.encryption == SIHL_ENCRYPTION_SECRETSTREAM) {
    static uint8_t envelope[SIHL_ENVELOPE_BYTES];
    if (envelope_bytes != SIHL_ENVELOPE_BYTES || staging_read(0, image_bytes, envelope, sizeof envelope) != 0) {
      sh_puts("no envelope staged for an encrypted image\n");
      return EXIT_FAILED;
    }
    t0 = board_instructions();
    r = sihl_open_envelope(envelope, &verified, &ports.se, key);
    step("open-envelope", r, board_instructions() - t0, SIHL_ENVELOPE_BYTES);
    if (r != SIHL_OK) return EXIT_FAILED;
    use_key = key;
  }
  const struct sihl_writer sink = {0, discard};
  t0 = board_instructions();
  r = sihl_unpack(&image, &verified, use_key, &work, &sink);
  step("unpack", r, board_instructions() - t0, written);
  memset(key, 0, sizeof key);
  /* Where the RAM goes: the core's work area, field by field, and the secure element port's scratch. */
  sh_put_field("work message=", sizeof work.message);
  sh_put_field(" body=", sizeof work.body);
  sh_put_field(" keys=", sizeof work.keys);
  sh_put_field(" out=", sizeof work.out);
  sh_put_field(" cipher=", sizeof work.cipher);
  sh_put_field(" plain=", sizeof work.plain);
  sh_put_field(" decoder=", sizeof work.decoder);
  sh_put_field(" total=", sizeof work);
  sh_puts("\n");
  sh_put_field("image compression=", verified.compression);
  sh_put_field(" filter=", verified.filter);
  sh_put_field(" encryption=", verified.encryption);
  sh_put_field(" chunk=", verified.chunk_size);
  sh_put_field(" plaintext=", (uint32_t)verified.plaintext_size);
  sh_put_field(" payload=", (uint32_t)verified.payload_size);
  sh_puts("\n");
  board_finish(&nor, r == SIHL_OK ? EXIT_OK : EXIT_FAILED);
}
