/* Shared by the libFuzzer harnesses: an image held in memory, and the vectors' fixed keys. */
#ifndef SIHL_FUZZ_COMMON_H
#define SIHL_FUZZ_COMMON_H

#include <stdint.h>
#include <string.h>

#include <sodium/crypto_hash_sha256.h>

#include "internal.h"

/* The entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline int memory_read(void *ctx, uint64_t offset, uint8_t *out, size_t length)
{
    memcpy(out, (const uint8_t *)ctx + offset, length);
    return 0;
}

static inline struct sihl_reader memory_reader(const uint8_t *data, size_t size)
{
    struct sihl_reader r;
    r.ctx = (void *)(uintptr_t)data;
    r.size = size;
    r.read = memory_read;
    return r;
}

/* docs/vectors/vectors.json: the root key (version 1) and the device's X25519 key pair. */
static const uint8_t vector_root[32] = {
    0xcf, 0x2e, 0x93, 0x14, 0xbd, 0x02, 0x36, 0xf0, 0x1e, 0x8c, 0xdd, 0x2e, 0x1d, 0xad, 0x15, 0x29,
    0xe7, 0x57, 0xa1, 0xc8, 0x7b, 0x92, 0x13, 0xd4, 0xf0, 0xab, 0x37, 0x69, 0xb2, 0x0e, 0xa5, 0xb7};

static inline void vector_trust(struct sihl_trust *t)
{
    memset(t, 0, sizeof *t);
    t->root.version = 1;
    t->root.threshold = 1;
    t->root.key_count = 1;
    memcpy(t->root.keys[0], vector_root, 32);
}

/* The input as an image held in memory, and the vectors' trust; 0 when the input is over max bytes. */
static inline int vector_input(const uint8_t *data, size_t size, size_t max, struct sihl_reader *r,
                               struct sihl_trust *t)
{
    if (size > max) return 0;
    *r = memory_reader(data, size);
    vector_trust(t);
    return 1;
}

static inline int discard_write(void *ctx, const uint8_t *data, size_t length)
{
    (void)ctx;
    (void)data;
    (void)length;
    return 0;
}

/* A compressed stream stored as a signed-only chunk chain (FORMAT.md §Chunk chain) in 256-byte pieces,
 * as a packer would: fills m's chain fields (compressed size, chunk size, payload size and digest) and
 * `payload` (room for the stream and a 32-byte link per piece), and returns a reader over it. */
#define CHAIN_PIECE 256u
static inline struct sihl_reader chained_stream(const uint8_t *stream, size_t size, struct sihl_image *m,
                                                uint8_t *payload)
{
    struct sihl_chain chain;
    uint8_t next[32];
    uint64_t i;
    m->compressed_size = size;
    m->chunk_size = CHAIN_PIECE;
    m->payload_size = sihl_chain_payload_size(m);
    m->payload_offset = 0;
    sihl_chain_layout(m, &chain);
    /* Pieces forward, then links from the last stored chunk back to the first. */
    for (i = 0; i < chain.count; i++) {
        size_t take = size - i * CHAIN_PIECE < CHAIN_PIECE ? size - i * CHAIN_PIECE : CHAIN_PIECE;
        memcpy(payload + i * chain.stride, stream + i * CHAIN_PIECE, take);
    }
    for (i = chain.count; i-- > 0;) {
        uint64_t offset, length;
        sihl_chain_chunk(&chain, m, i, &offset, &length);
        if (i + 1u < chain.count) memcpy(payload + offset + CHAIN_PIECE, next, 32);
        crypto_hash_sha256(next, payload + offset, length);
    }
    memcpy(m->payload_digest, next, 32);
    return memory_reader(payload, (size_t)m->payload_size);
}

/* A compressed stream through sihl_unpack as a device would see it, in an image of the given codec:
 * stored as a chunk chain in `payload` (as chained_stream), with the output discarded and the signed
 * plaintext size at 2^16, so a bomb stops early as the signed size stops it on a device. The plaintext
 * digest does not match: the interesting part is everything before that check. */
static inline void unpack_chained(const uint8_t *stream, size_t size, uint8_t compression, unsigned window_log,
                                  unsigned filter, uint8_t *payload, struct sihl_work *work)
{
    struct sihl_image m;
    struct sihl_reader r;
    struct sihl_writer w;
    memset(&m, 0, sizeof m);
    m.compression = compression;
    m.window_log = (uint8_t)window_log;
    m.filter = (uint8_t)filter;
    m.plaintext_size = 1u << 16;
    r = chained_stream(stream, size, &m, payload);
    w.ctx = NULL;
    w.write = discard_write;
    (void)sihl_unpack(&r, &m, NULL, work, &w);
}

#endif
