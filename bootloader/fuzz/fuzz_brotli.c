/* libFuzzer: the Brotli decoder (FORMAT.md §Compression, algorithm 1) through sihl_unpack, as a
 * signed-only payload: byte 0 picks the window (2^10..2^16), the filter, and whether the stream goes
 * through sihl_unpack with the work area's whole arena (0..20) or straight to the decoder with an arena
 * of 96 KiB, as a device that shares LZMA2's would have, so the arena running out is fuzzed too
 * (21..41); the rest is the stream. For sihl_unpack the harness stores the stream as a chunk chain
 * (FORMAT.md §Chunk chain) in 256-byte pieces, as a packer would, so every stream reaches the decoder
 * and crosses piece boundaries. */
#include "brotli.h"
#include "common.h"

#define STREAM_MAX 65536u
#define PIECES_MAX (STREAM_MAX / CHAIN_PIECE)
#define SMALL_ARENA (96u * 1024u)

static struct sihl_work work;
static uint8_t payload[STREAM_MAX + SIHL_LINK_BYTES * (PIECES_MAX - 1u)];

/* Straight to the decoder with a small arena: output discarded, at most 2^16 bytes of it. */
static void small_arena(const uint8_t *in, size_t size, unsigned window_log)
{
    struct sihl_brotli z;
    size_t used, made, out = 0;
    sihl_reason r = sihl_brotli_begin(&z, work.decoder, SMALL_ARENA, window_log);
    while (r == SIHL_OK && !z.ended && out <= (1u << 16)) {
        r = sihl_brotli_run(&z, in, size, &used, work.out, sizeof work.out, &made);
        in += used;
        size -= used;
        out += made;
        if (used == 0 && made == 0) break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 1 > STREAM_MAX) return 0;
    if (data[0] % 42 >= 21)
        small_arena(data + 1, size - 1, 10u + data[0] % 7u);
    else
        unpack_chained(data + 1, size - 1, SIHL_COMPRESSION_BROTLI, 10u + data[0] % 7u, (data[0] / 7u) % 3u,
                       payload, &work);
    return 0;
}
