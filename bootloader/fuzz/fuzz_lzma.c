/* libFuzzer: the LZMA2 decoder (FORMAT.md §Compression, algorithm 2) through sihl_unpack, as a
 * signed-only payload: byte 0 picks the dictionary (2^12..2^16) and filter, the rest is the stream. */
#include "common.h"

static struct sihl_work work;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_image m;
    struct sihl_reader r;
    struct sihl_writer w;
    if (size < 2) return 0;
    memset(&m, 0, sizeof m);
    m.compression = SIHL_COMPRESSION_LZMA2;
    m.window_log = (uint8_t)(12 + data[0] % 5);
    m.filter = (uint8_t)((data[0] / 5) % 3);
    m.plaintext_size = 1u << 16; /* a bomb stops early, as the signed size stops it on a device */
    m.compressed_size = size - 1;
    m.payload_size = size - 1;
    m.payload_offset = 1;
    m.chunk_size = 16384;
    r = memory_reader(data, size);
    w.ctx = NULL;
    w.write = discard_write;
    /* The digests do not match: the interesting part is everything before that check. */
    (void)sihl_unpack(&r, &m, NULL, &work, &w);
    return 0;
}
