/* libFuzzer: FORMAT.md §Header; the input's first 32 bytes, the image size from the next 8. */
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_header h;
    uint64_t image_size;
    if (size < SIHL_HEADER_BYTES) return 0;
    image_size = size >= SIHL_HEADER_BYTES + 8 ? sihl_le64(data + SIHL_HEADER_BYTES) : size;
    if (sihl_header_decode(data, image_size, &h) == SIHL_OK) {
        uint64_t total = (uint64_t)SIHL_HEADER_BYTES + h.manifest_length + h.delegation_length +
                         h.signature_block_length + h.root_chain_length + h.payload_length;
        if (total != image_size) __builtin_trap();
    }
    return 0;
}
