/* The NOR rules and the operation count; see nor-flash.h. */
#include "nor-flash.h"

#include <string.h>

int nor_check_geometry(const nor_flash *f) {
  if (f->size == 0 || f->sector_size == 0 || f->write_size == 0) return -1;
  if (f->sector_size % f->write_size != 0 || f->size % f->sector_size != 0) return -1;
  return 0;
}

static int inside(const nor_flash *f, uint32_t offset, uint32_t length) {
  return offset <= f->size && length <= f->size - offset;
}

nor_result nor_read(const nor_flash *f, uint32_t offset, void *buf, uint32_t length) {
  if (!inside(f, offset, length)) return NOR_OUTSIDE;
  memcpy(buf, f->memory + offset, length);
  return NOR_OK;
}

/* Counts one operation; 1 when it is the one the armed cut falls after. */
static int count(nor_flash *f) {
  f->operations++;
  return f->cut_after != 0 && f->operations == f->cut_after;
}

nor_result nor_erase(nor_flash *f, uint32_t offset) {
  if (!inside(f, offset, f->sector_size)) return NOR_OUTSIDE;
  if (offset % f->sector_size != 0) return NOR_MISALIGNED;
  f->erases++;
  const int last = count(f);
  /* A torn erase finishes the first half of the sector and leaves the rest as it was. */
  memset(f->memory + offset, 0xff, last && f->tear ? f->sector_size / 2 : f->sector_size);
  if (last) f->power_cut(f);
  return NOR_OK;
}

nor_result nor_program(nor_flash *f, uint32_t offset, const void *data, uint32_t length) {
  if (!inside(f, offset, length)) return NOR_OUTSIDE;
  if (offset % f->write_size != 0 || length % f->write_size != 0) return NOR_MISALIGNED;
  const uint8_t *target = f->memory + offset;
  for (uint32_t i = 0; i < length; i++) {
    if (target[i] != 0xff) return NOR_NOT_ERASED;
  }
  f->programs++;
  const int last = count(f);
  uint32_t done = length;
  /* A torn program finishes the first half of its words (at least one word stays unwritten). */
  if (last && f->tear) done = (length / f->write_size / 2) * f->write_size;
  memcpy(f->memory + offset, data, done);
  if (last) f->power_cut(f);
  return NOR_OK;
}
