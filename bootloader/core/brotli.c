/* The Brotli decoder behind FORMAT.md §Compression algorithm 1 (docs/BOOTLOADER-C.md §Brotli): Brotli
 * 1.0.9's decoder, its allocations served first-fit from a fixed arena in the caller's work area, the
 * window the stream declares checked against the signed window_log before a byte is decoded. */
#include "brotli.h"

#if SIHL_BROTLI

#include <string.h>

/* A system header (-isystem): its prototypes use a variable-length array parameter. */
#include <brotli/decode.h>

/* The arena: the ring buffer, the one allocation whose size the stream's first bits fix ((1 << window
 * bits) + 42 bytes, asked for once: sihl turns the decoder's ring-buffer reallocation off), at its end,
 * reserved for the signed window; everything else first fit from its start, in blocks with a 16-byte
 * header (payload bytes, in use) in address order, free neighbours merged on every free. The decoder's
 * state and block-type trees live as long as the stream; the context maps and Huffman tables of a
 * meta-block are freed at its end, so the start of the arena never fragments. */
#define ALIGN 16u
#define HEADER 16u
#define RING_SLACK 42u /* Brotli's kRingBufferWriteAheadSlack */

struct block {
    size_t size;
    size_t used;
};

static uint8_t *arena_start, *ring_at;
static size_t arena_size_total; /* the first-fit part */
static size_t ring_reserved, ring_size, arena_peak;
static int ring_taken;

static struct block *block_at(size_t offset) { return (struct block *)(void *)(arena_start + offset); }

static void *arena_alloc(void *opaque, size_t size)
{
    size_t at = 0;
    (void)opaque;
    /* Every other allocation is a multiple of 4 bytes or at most 256 (the context modes). */
    if (size == ring_size && !ring_taken) {
        ring_taken = 1;
        return ring_at;
    }
    if (size > arena_size_total) return NULL;
    size = (size + ALIGN - 1u) & ~(size_t)(ALIGN - 1u);
    while (at < arena_size_total) {
        struct block *b = block_at(at);
        if (!b->used && b->size >= size) {
            if (b->size - size > HEADER) {
                struct block *rest = block_at(at + HEADER + size);
                rest->size = b->size - size - HEADER;
                rest->used = 0;
                b->size = size;
            }
            b->used = 1;
            if (at + HEADER + b->size > arena_peak) arena_peak = at + HEADER + b->size;
            return arena_start + at + HEADER;
        }
        at += HEADER + b->size;
    }
    return NULL;
}

static void arena_free(void *opaque, void *address)
{
    size_t at = 0;
    (void)opaque;
    if (address == NULL) return;
    if (address == (void *)ring_at) {
        ring_taken = 0;
        return;
    }
    block_at((size_t)((uint8_t *)address - arena_start) - HEADER)->used = 0;
    /* Merge every run of free blocks. */
    while (at < arena_size_total) {
        struct block *b = block_at(at);
        size_t next = at + HEADER + b->size;
        if (!b->used) {
            while (next < arena_size_total && !block_at(next)->used) {
                b->size += HEADER + block_at(next)->size;
                next = at + HEADER + b->size;
            }
        }
        at = next;
    }
}

size_t sihl_brotli_memory(void) { return arena_peak + ring_reserved; }

/* Brotli's own fallbacks to the heap, taken only when no allocator is given (sihl always gives one),
 * are bound here at compile time (sources.mk: -Dmalloc=sihl_brotli_no_heap): no heap in the link. */
void *sihl_brotli_no_heap(size_t size);
void sihl_brotli_no_heap_free(void *address);
void *sihl_brotli_no_heap(size_t size)
{
    (void)size;
    return NULL;
}
void sihl_brotli_no_heap_free(void *address) { (void)address; }

sihl_reason sihl_brotli_begin(struct sihl_brotli *z, uint8_t *arena, size_t arena_size, unsigned window_log)
{
    uintptr_t misalign = (uintptr_t)arena & (ALIGN - 1u);
    BrotliDecoderState *s;
    memset(z, 0, sizeof *z);
    if (window_log < SIHL_BROTLI_LOG_MIN || window_log > SIHL_WINDOW_LOG_MAX) return SIHL_LIMIT_EXCEEDED;
    if (misalign != 0) {
        if (arena_size < ALIGN - misalign) return SIHL_INTERNAL;
        arena += ALIGN - misalign;
        arena_size -= ALIGN - misalign;
    }
    arena_size &= ~(size_t)(ALIGN - 1u);
    ring_reserved = (((size_t)1u << window_log) + RING_SLACK + ALIGN - 1u) & ~(size_t)(ALIGN - 1u);
    if (arena_size <= ring_reserved + HEADER) return SIHL_INTERNAL;
    arena_start = arena;
    arena_size_total = arena_size - ring_reserved;
    ring_at = arena + arena_size_total;
    ring_size = 0; /* until the stream's first bits say */
    ring_taken = 0;
    arena_peak = 0;
    block_at(0)->size = arena_size_total - HEADER;
    block_at(0)->used = 0;
    s = BrotliDecoderCreateInstance(arena_alloc, arena_free, NULL);
    if (s == NULL) return SIHL_LIMIT_EXCEEDED;
    /* The ring buffer at the declared window from the start: one allocation, never grown by a copy. */
    if (!BrotliDecoderSetParameter(s, BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION, 1u))
        return SIHL_INTERNAL;
    z->decoder = s;
    z->window_log = window_log;
    return SIHL_OK;
}

/* RFC 7932 §9.1: the window in the stream's first bits; 0 for bits that are no plain window size. */
static unsigned declared_window_log(uint8_t first)
{
    unsigned n, m;
    if ((first & 1u) == 0) return 16;
    n = (first >> 1) & 7u;
    if (n != 0) return 17 + n;
    m = (first >> 4) & 7u;
    if (m == 1) return 0; /* the large-window extension, not RFC 7932 */
    return m == 0 ? 17 : 8 + m;
}

sihl_reason sihl_brotli_run(struct sihl_brotli *z, const uint8_t *in, size_t in_size, size_t *consumed,
                            uint8_t *out, size_t out_size, size_t *produced)
{
    BrotliDecoderState *s = (BrotliDecoderState *)z->decoder;
    const uint8_t *next_in = in;
    uint8_t *next_out = out;
    size_t avail_in = in_size, avail_out = out_size;
    BrotliDecoderResult result;
    *consumed = 0;
    *produced = 0;
    if (!z->started && in_size > 0) {
        unsigned declared = declared_window_log(in[0]);
        /* FORMAT.md §Compression: no larger window than the manifest signed. */
        if (declared == 0 || declared > z->window_log) return SIHL_DECOMPRESS_FAILED;
        z->started = 1;
        ring_size = ((size_t)1u << declared) + RING_SLACK;
    }
    result = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
    *consumed = in_size - avail_in;
    *produced = out_size - avail_out;
    if (result == BROTLI_DECODER_RESULT_SUCCESS) {
        z->ended = 1;
        return SIHL_OK;
    }
    if (result != BROTLI_DECODER_RESULT_ERROR) return SIHL_OK;
    /* BROTLI_DECODER_ERROR_ALLOC_*: the arena ran out, which says nothing against the stream. */
    if (BrotliDecoderGetErrorCode(s) <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
        BrotliDecoderGetErrorCode(s) >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES)
        return SIHL_LIMIT_EXCEEDED;
    return SIHL_DECOMPRESS_FAILED;
}

#else
/* Not built: ISO C wants something in a translation unit. */
typedef int sihl_brotli_not_built;
#endif
