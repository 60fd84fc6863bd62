/* The LZMA2 decoder behind FORMAT.md §Compression algorithm 2: xz-embedded, with its allocations
 * served from a fixed arena (no heap) and the dictionary bounded by the signed window_log. */
#include "lzma.h"

#include "xz_private.h"

static uint8_t *arena_at;
static size_t arena_left;

void *sihl_xz_alloc(size_t size)
{
    void *p;
    size = (size + 15u) & ~(size_t)15u;
    if (size > arena_left) return NULL;
    p = arena_at;
    arena_at += size;
    arena_left -= size;
    return p;
}

static size_t arena_used;

size_t sihl_lzma_memory(void) { return arena_used; }

enum { PHASE_CONTROL, PHASE_HEADER, PHASE_DATA, PHASE_DONE };

/* Follows the LZMA2 chunk framing over bytes the decoder has consumed. */
static sihl_reason frame(struct sihl_lzma *z, const uint8_t *in, size_t n)
{
    size_t i = 0;
    while (i < n && z->phase != PHASE_DONE) {
        uint8_t b = in[i];
        if (z->phase == PHASE_CONTROL) {
            z->control = b;
            z->header_have = 0;
            if (b == 0x00) {
                z->phase = PHASE_DONE;
            } else if (b == 0x01 || b == 0x02) {
                z->header_need = 2;
                z->phase = PHASE_HEADER;
            } else if (b >= 0x80) {
                z->header_need = b >= 0xC0 ? 5 : 4;
                z->phase = PHASE_HEADER;
            } else {
                z->phase = PHASE_DONE; /* not a control byte: the decoder refuses it */
            }
            i++;
        } else if (z->phase == PHASE_HEADER) {
            z->header[z->header_have++] = b;
            i++;
            if (z->header_have == z->header_need) {
                if (z->control < 0x80) {
                    z->data_left = (((uint32_t)z->header[0] << 8) | z->header[1]) + 1u;
                    z->first = 0;
                } else {
                    z->data_left = (((uint32_t)z->header[2] << 8) | z->header[3]) + 1u;
                    z->first = 1;
                }
                z->phase = PHASE_DATA;
            }
        } else {
            size_t take = n - i < z->data_left ? n - i : z->data_left;
            if (z->first) {
                if (b != 0x00) return SIHL_DECOMPRESS_FAILED;
                z->first = 0;
            }
            i += take;
            z->data_left -= (uint32_t)take;
            if (z->data_left == 0) z->phase = PHASE_CONTROL;
        }
    }
    return SIHL_OK;
}

sihl_reason sihl_lzma_begin(struct sihl_lzma *z, uint8_t *arena, size_t arena_size, unsigned window_log)
{
    uintptr_t misalign = (uintptr_t)arena & 15u;
    struct xz_dec_lzma2 *s;
    memset(z, 0, sizeof *z);
    z->phase = PHASE_CONTROL;
    if (window_log < SIHL_LZMA2_LOG_MIN || window_log > SIHL_WINDOW_LOG_MAX) return SIHL_LIMIT_EXCEEDED;
    if (misalign != 0) {
        if (arena_size < 16u - misalign) return SIHL_INTERNAL;
        arena += 16u - misalign;
        arena_size -= 16u - misalign;
    }
    arena_at = arena;
    arena_left = arena_size;
    s = xz_dec_lzma2_create(XZ_PREALLOC, (uint32_t)1u << window_log);
    if (s == NULL) return SIHL_LIMIT_EXCEEDED;
    arena_used = arena_size - arena_left;
    /* The dictionary-size property byte for exactly 2^window_log: 2 << (props / 2 + 11). */
    if (xz_dec_lzma2_reset(s, (uint8_t)((window_log - 12u) * 2u)) != XZ_OK) return SIHL_INTERNAL;
    z->decoder = s;
    return SIHL_OK;
}

sihl_reason sihl_lzma_run(struct sihl_lzma *z, const uint8_t *in, size_t in_size, size_t *consumed,
                          uint8_t *out, size_t out_size, size_t *produced)
{
    struct xz_buf b;
    enum xz_ret ret;
    b.in = in;
    b.in_pos = 0;
    b.in_size = in_size;
    b.out = out;
    b.out_pos = 0;
    b.out_size = out_size;
    ret = xz_dec_lzma2_run((struct xz_dec_lzma2 *)z->decoder, &b);
    *consumed = b.in_pos;
    *produced = b.out_pos;
    if (frame(z, in, b.in_pos) != SIHL_OK) return SIHL_DECOMPRESS_FAILED;
    if (ret == XZ_STREAM_END) {
        z->ended = 1;
        return SIHL_OK;
    }
    return ret == XZ_OK ? SIHL_OK : SIHL_DECOMPRESS_FAILED;
}
