/* libFuzzer: FORMAT.md §Manifest, strict decoding and consistency. */
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_image m;
    if (sihl_manifest_decode(data, size, &m) == SIHL_OK) {
        /* What decodes is consistent: checked again here as a property. */
        if (m.plaintext_size == 0 || m.chunk_size < 256 || m.compression > 2 || strlen(m.model) == 0)
            __builtin_trap();
    }
    return 0;
}
