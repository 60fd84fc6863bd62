/* The record log of docs/BOOT.md §Record log, for the boot state (core/boot_state.c) and for a secure
 * element port that keeps its counters and pinned root in flash (ports/flash_secure_element.c): two
 * sectors of fixed-size slots, each record written once into erased space, the valid record with the
 * highest sequence number being the state. */
#ifndef SIHL_RECORD_LOG_H
#define SIHL_RECORD_LOG_H

#include <stdint.h>

#include "sihl/flash.h"

#define RECORD_OVERHEAD 12u

struct record_log {
  const struct sihl_flash *flash;
  uint32_t offset;      /* first of the two sectors */
  uint32_t record_size; /* a multiple of the write size, above 12, dividing the sector size */
  /* The owner's check (§Record log, valid): 1 accepts a record whose CRC matches; NULL accepts all. */
  int (*accept)(void *ctx, uint32_t sequence, const uint8_t *payload, uint32_t length);
  void *accept_ctx;
};

/* Fills the `length` bytes of the payload of the record about to be written with `sequence`. 0 on success. */
typedef int (*record_fill)(void *ctx, uint32_t sequence, uint8_t *payload, uint32_t length);

/** CRC-32 of zlib and IEEE 802.3 (docs/BOOT.md). */
uint32_t crc32_ieee(const uint8_t *data, uint32_t length);
/**
 * The newest valid record's payload into `payload` (at most `max` bytes; *length set). Returns 1 when
 * there is one, 0 when the log holds none, -1 on a flash fault. `slot` is scratch of record_size bytes.
 */
int record_log_read(const struct record_log *log, uint8_t *payload, uint32_t max, uint32_t *length,
                    uint8_t *slot);
/** Appends a record (§Record log, Appending). 0 on success; `slot` is scratch of record_size bytes. */
int record_log_append(const struct record_log *log, const uint8_t *payload, uint32_t length, uint8_t *slot);
/** As record_log_append, the payload made by `fill` once the sequence number is known (a tag over it). */
int record_log_append_with(const struct record_log *log, uint32_t length, record_fill fill, void *ctx,
                           uint8_t *slot);

#endif
