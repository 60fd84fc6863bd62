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
    if (size < 2 || size - 1 > STREAM_MAX) return 0;
    unpack_chained(data + 1, size - 1, SIHL_COMPRESSION_LZMA2, 12u + data[0] % 5u, (data[0] / 5u) % 3u, payload,
                   &work);
    return 0;
}
