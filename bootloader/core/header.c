/* FORMAT.md §Header and §Layout: every length bounded, the image size exact, before any part is read. */
#include "internal.h"

sihl_reason sihl_header_decode(const uint8_t b[SIHL_HEADER_BYTES], uint64_t image_size,
                               struct sihl_header *out)
{
    static const uint8_t magic[4] = {0x53, 0x49, 0x48, 0x4c};
    uint64_t expected;
    unsigned i;
    for (i = 0; i < 4; i++)
        if (b[i] != magic[i]) return SIHL_IMAGE_BAD_MAGIC;
    if (sihl_le16(b + 4) != 2) return SIHL_IMAGE_UNSUPPORTED_VERSION;
    if (sihl_le16(b + 6) != SIHL_HEADER_BYTES) return SIHL_IMAGE_BAD_HEADER;
    out->manifest_length = sihl_le32(b + 8);
    out->delegation_length = sihl_le32(b + 12);
    out->signature_block_length = sihl_le32(b + 16);
    out->root_chain_length = sihl_le32(b + 20);
    out->payload_length = sihl_le64(b + 24);
    if (out->manifest_length > SIHL_MANIFEST_MAX || out->delegation_length > SIHL_DELEGATION_MAX ||
        out->signature_block_length > SIHL_SIGNATURE_BLOCK_MAX ||
        out->root_chain_length > SIHL_ROOT_CHAIN_MAX || out->payload_length > SIHL_U64_SAFE_MAX ||
        out->payload_length > SIHL_PAYLOAD_MAX)
        return SIHL_LIMIT_EXCEEDED;
    /* Bounded above: no overflow. */
    expected = (uint64_t)SIHL_HEADER_BYTES + out->manifest_length + out->delegation_length +
               out->signature_block_length + out->root_chain_length + out->payload_length;
    if (image_size < expected) return SIHL_IMAGE_TRUNCATED;
    if (image_size > expected) return SIHL_IMAGE_TRAILING_BYTES;
    return SIHL_OK;
}
