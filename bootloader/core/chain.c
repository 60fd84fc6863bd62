/* FORMAT.md §Chunk chain: the payload is stored as pieces, each but the last followed by the SHA-256 of
 * the stored chunk after it; the manifest's payload digest is the SHA-256 of the first stored chunk. */
#include "internal.h"

void sihl_chain_layout(const struct sihl_image *m, struct sihl_chain *out)
{
    /* compressed_size ≤ 2^32 + 2^26 and 256 ≤ chunk_size ≤ 2^20 once the manifest is consistent, and
     * bounded by the u64 rules before that: nothing here overflows. */
    uint64_t count = (m->compressed_size + m->chunk_size - 1u) / m->chunk_size;
    uint32_t overhead = m->encryption == SIHL_ENCRYPTION_SECRETSTREAM ? SIHL_STREAM_OVERHEAD : 0u;
    out->count = count == 0 ? 1u : count;
    out->piece = m->chunk_size + overhead;
    out->stride = (uint64_t)out->piece + SIHL_LINK_BYTES;
}

uint64_t sihl_chain_payload_size(const struct sihl_image *m)
{
    struct sihl_chain c;
    uint32_t overhead = m->encryption == SIHL_ENCRYPTION_SECRETSTREAM ? SIHL_STREAM_OVERHEAD : 0u;
    sihl_chain_layout(m, &c);
    return m->compressed_size + c.count * overhead + (c.count - 1u) * SIHL_LINK_BYTES;
}

void sihl_chain_chunk(const struct sihl_chain *c, const struct sihl_image *m, uint64_t i, uint64_t *offset,
                      uint64_t *length)
{
    *offset = i * c->stride;
    *length = i + 1u == c->count ? m->payload_size - *offset : c->stride;
}
