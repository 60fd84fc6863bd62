/* libFuzzer: the LZMA2 decoder (FORMAT.md §Compression, algorithm 2) through sihl_unpack, as a
 * signed-only payload: byte 0 picks the dictionary (2^12..2^16) and filter, the rest is the stream.
 * The harness stores the stream as a chunk chain (FORMAT.md §Chunk chain) in 256-byte pieces, as a
 * packer would, so every stream reaches the decoder and crosses piece boundaries. */
#include "common.h"

#define STREAM_MAX 65536u
#define PIECES_MAX (STREAM_MAX / CHAIN_PIECE)

static struct sihl_work work;
static uint8_t payload[STREAM_MAX + SIHL_LINK_BYTES * (PIECES_MAX - 1u)];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_image m;
    size_t stream;
    if (size < 2 || size - 1 > STREAM_MAX) return 0;
    stream = size - 1;
    memset(&m, 0, sizeof m);
    m.compression = SIHL_COMPRESSION_LZMA2;
    m.window_log = (uint8_t)(12 + data[0] % 5);
    m.filter = (uint8_t)((data[0] / 5) % 3);
    unpack_chained(data + 1, stream, &m, payload, &work);
    return 0;
}
