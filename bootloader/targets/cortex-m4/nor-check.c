/* A program that puts the NOR port's rules to work on the target itself: each attempt prints its result
 * and the flash file shows what the flash holds afterwards. The QEMU test judges both. Sectors 1 to 3 of
 * the flash file are used; sector 2 must hold data (not erased) when the program starts. */
#include <stdint.h>

#include "board.h"
#include "nor-flash.h"
#include "semihost.h"

static const char *const names[] = {"ok", "outside", "misaligned", "not-erased"};

static void show(const char *what, nor_result result) {
  sh_puts(what);
  sh_puts(": ");
  sh_puts(names[result]);
  sh_puts("\n");
}

int main(void) {
  static nor_flash flash;
  board_start(&flash);
  const uint32_t s = flash.sector_size, w = flash.write_size;
  static uint8_t word[64];
  for (uint32_t i = 0; i < sizeof word; i++) word[i] = (uint8_t)(0xa0u + i);

  show("erase sector 1", nor_erase(&flash, s));
  show("program a word into erased sector 1", nor_program(&flash, s, word, w));
  show("program the same word again", nor_program(&flash, s, word, w));
  show("program at an unaligned offset", nor_program(&flash, s + w + 1, word, w));
  show("program an unaligned length", nor_program(&flash, s + w, word, w - 1));
  show("erase not at a sector start", nor_erase(&flash, s + w));
  show("program past the end", nor_program(&flash, flash.size - w, word, 2 * w));
  show("erase past the end", nor_erase(&flash, flash.size));
  show("program into sector 2 that holds data", nor_program(&flash, 2 * s, word, w));
  static uint8_t back[8];
  show("read past the end", nor_read(&flash, flash.size - 4, back, 8));

  /* Counted work: erase sector 3, then program it a word at a time; an armed cut falls inside. */
  show("erase sector 3", nor_erase(&flash, 3 * s));
  for (uint32_t i = 0; i < 16; i++) {
    for (uint32_t j = 0; j < w; j++) word[j] = (uint8_t)(i + 1);
    show("program a word of sector 3", nor_program(&flash, 3 * s + i * w, word, w));
  }
  sh_puts("instructions ");
  sh_put_u32((uint32_t)board_instructions());
  sh_puts("\n");
  board_finish(&flash, EXIT_OK);
}
