/* FORMAT.md §Compression, algorithm 2: a raw LZMA2 stream (xz-embedded's decoder), its dictionary
 * 2^window_log bytes, allocated from the caller's arena. */
#ifndef SIHL_LZMA_H
#define SIHL_LZMA_H

#include "internal.h"

struct sihl_lzma {
    void *decoder;
    int ended; /* the end marker was read */
    /* The chunk framing, followed beside the decoder to check what xz-embedded does not: the first
     * range-coder byte of every LZMA chunk is 0x00 (FORMAT.md §Compression, as liblzma requires). */
    uint8_t phase, control, header[5], header_have, header_need, first;
    uint32_t data_left;
};

/* The arena bytes the last sihl_lzma_begin took: decoder state and dictionary. */
size_t sihl_lzma_memory(void);

sihl_reason sihl_lzma_begin(struct sihl_lzma *z, uint8_t *arena, size_t arena_size, unsigned window_log);

/* Decodes `in` into `out`: *consumed and *produced say how far it got. Returns DECOMPRESS_FAILED on
 * bad data; bytes after the end marker are the caller's to refuse. */
sihl_reason sihl_lzma_run(struct sihl_lzma *z, const uint8_t *in, size_t in_size, size_t *consumed,
                          uint8_t *out, size_t out_size, size_t *produced);

#endif
