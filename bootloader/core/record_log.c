/* docs/BOOT.md §Record log: reading and appending. */
#include "sihl/record_log.h"

#include <string.h>

uint32_t crc32_ieee(const uint8_t *data, uint32_t length) {
  uint32_t crc = 0xffffffffu;
  for (uint32_t i = 0; i < length; i++) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

enum { SLOT_EMPTY, SLOT_VALID, SLOT_GARBAGE };

static int classify(const struct record_log *log, const uint8_t *slot) {
  uint32_t i = 0;
  while (i < log->record_size && slot[i] == 0xff) i++;
  if (i == log->record_size) return SLOT_EMPTY;
  const uint32_t n = le16(slot + 2);
  if (slot[0] != 0x53 || slot[1] != 0x52 || n > log->record_size - RECORD_OVERHEAD) return SLOT_GARBAGE;
  if (crc32_ieee(slot, 8 + n) != le32(slot + 8 + n)) return SLOT_GARBAGE;
  return log->accept == 0 || log->accept(log->accept_ctx, le32(slot + 4), slot + 8, n) ? SLOT_VALID : SLOT_GARBAGE;
}

struct scan {
  int found;
  uint32_t sequence, sector; /* the newest valid record's */
};

static int scan(const struct record_log *log, uint8_t *slot, struct scan *out, uint8_t *payload, uint32_t max,
                uint32_t *length) {
  const uint32_t sector = log->flash->geometry.sector_size;
  out->found = 0;
  for (uint32_t s = 0; s < 2; s++) {
    for (uint32_t at = 0; at < sector; at += log->record_size) {
      if (log->flash->read(log->flash->ctx, log->offset + s * sector + at, slot, log->record_size) != 0) return -1;
      if (classify(log, slot) != SLOT_VALID) continue;
      const uint32_t sequence = le32(slot + 4);
      /* §Record log, sequence order: serial-number arithmetic (RFC 1982); on a tie the first found wins. */
      if (out->found && (uint32_t)(sequence - out->sequence) - 1u >= 0x7fffffffu) continue;
      out->found = 1;
      out->sequence = sequence;
      out->sector = s;
      const uint32_t n = le16(slot + 2);
      if (payload != 0) {
        *length = n;
        memcpy(payload, slot + 8, n < max ? n : max);
      }
    }
  }
  return 0;
}

int record_log_read(const struct record_log *log, uint8_t *payload, uint32_t max, uint32_t *length,
                    uint8_t *slot) {
  struct scan s;
  if (scan(log, slot, &s, payload, max, length) != 0) return -1;
  return s.found && *length <= max ? 1 : 0;
}

static int copy_payload(void *ctx, uint32_t sequence, uint8_t *payload, uint32_t length) {
  (void)sequence;
  memcpy(payload, ctx, length);
  return 0;
}

int record_log_append(const struct record_log *log, const uint8_t *payload, uint32_t length, uint8_t *slot) {
  return record_log_append_with(log, length, copy_payload, (void *)payload, slot);
}

int record_log_append_with(const struct record_log *log, uint32_t length, record_fill fill, void *ctx,
                           uint8_t *slot) {
  const struct sihl_flash *f = log->flash;
  const uint32_t sector = f->geometry.sector_size;
  if (length > log->record_size - RECORD_OVERHEAD) return -1;
  struct scan s;
  if (scan(log, slot, &s, 0, 0, 0) != 0) return -1;
  const uint32_t sequence = s.found ? s.sequence + 1u : 1u;
  uint32_t base = log->offset + (s.found ? s.sector : 0u) * sector;
  /* The slot after the last one that holds anything, even garbage. */
  uint32_t next = 0;
  for (uint32_t at = 0; at < sector; at += log->record_size) {
    if (f->read(f->ctx, base + at, slot, log->record_size) != 0) return -1;
    if (classify(log, slot) != SLOT_EMPTY) next = at + log->record_size;
  }
  if (next >= sector) {
    /* Full: erase the other sector and go on there. */
    base = log->offset + (s.found && s.sector == 1 ? 0u : 1u) * sector;
    if (f->erase(f->ctx, base) != 0) return -1;
    next = 0;
  }
  memset(slot, 0xff, log->record_size);
  slot[0] = 0x53;
  slot[1] = 0x52;
  slot[2] = (uint8_t)length;
  slot[3] = (uint8_t)(length >> 8);
  for (int i = 0; i < 4; i++) slot[4 + i] = (uint8_t)(sequence >> (8 * i));
  if (fill(ctx, sequence, slot + 8, length) != 0) return -1;
  const uint32_t crc = crc32_ieee(slot, 8 + length);
  for (int i = 0; i < 4; i++) slot[8 + length + i] = (uint8_t)(crc >> (8 * i));
  return f->program(f->ctx, base + next, slot, log->record_size);
}
