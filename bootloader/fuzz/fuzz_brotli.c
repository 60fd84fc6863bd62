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
    struct sihl_image m;
    size_t stream;
    if (size < 2 || size - 1 > STREAM_MAX) return 0;
    stream = size - 1;
    if (data[0] % 42 >= 21) {
        small_arena(data + 1, stream, 10u + data[0] % 7u);
        return 0;
    }
    memset(&m, 0, sizeof m);
    m.compression = SIHL_COMPRESSION_BROTLI;
    m.window_log = (uint8_t)(10 + data[0] % 7);
    m.filter = (uint8_t)((data[0] / 7) % 3);
    unpack_chained(data + 1, stream, &m, payload, &work);
    return 0;
}
