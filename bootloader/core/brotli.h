/* FORMAT.md §Compression, algorithm 1: Brotli (RFC 7932) through the decoder of Brotli 1.0.9's C
 * sources, its every allocation served from a fixed arena in the caller's work area (no heap). Built
 * when SIHL_BROTLI is 1 (the host builds); a build without it refuses Brotli [COMPRESSION_UNSUPPORTED]. */
#ifndef SIHL_BROTLI_H
#define SIHL_BROTLI_H

#include "internal.h"

struct sihl_brotli {
    void *decoder;
    int ended;   /* the stream's last meta-block was decoded */
    int started; /* the window the stream declares was checked */
    unsigned window_log;
};

/* The most arena bytes the decoder held at once since the last sihl_brotli_begin. */
size_t sihl_brotli_memory(void);

sihl_reason sihl_brotli_begin(struct sihl_brotli *z, uint8_t *arena, size_t arena_size, unsigned window_log);

/* As sihl_lzma_run: DECOMPRESS_FAILED on bad data or a larger window than signed, LIMIT_EXCEEDED when
 * the arena runs out (the stream needs more Huffman tables than this bootloader holds); bytes after
 * the end of the stream are the caller's to refuse. */
sihl_reason sihl_brotli_run(struct sihl_brotli *z, const uint8_t *in, size_t in_size, size_t *consumed,
                            uint8_t *out, size_t out_size, size_t *produced);

#endif
