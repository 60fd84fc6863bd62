/* libFuzzer: FORMAT.md §Root chain: the strict structure, then the walk from the vectors' root. */
#include "common.h"

static uint8_t message[32 + SIHL_KEYSET_BODY_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_trust t;
    struct sihl_keyset next;
    struct sihl_reader r;
    if (!vector_input(data, size, SIHL_ROOT_CHAIN_MAX, &r, &t)) return 0;
    if (sihl_root_chain_check(&r, 0, (uint32_t)size, message, &next) != SIHL_OK) return 0;
    if (sihl_root_chain_walk(&r, 0, (uint32_t)size, message, &t.root, &next) == SIHL_OK && t.root.version < 1)
        __builtin_trap();
    return 0;
}
