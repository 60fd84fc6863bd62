/* libFuzzer: FORMAT.md §Delegation: the split into body and block, the key set rules (points on the
 * curve, key id order), then the root's threshold over the body. */
#include "common.h"

static uint8_t body[32 + SIHL_KEYSET_BODY_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_trust t;
    struct sihl_keyset keys;
    struct sihl_reader r;
    size_t n;
    if (!vector_input(data, size, SIHL_DELEGATION_MAX, &r, &t)) return 0;
    memcpy(body, "sihl/v1/delegation", 19);
    if (sihl_delegation_decode(&r, 0, (uint32_t)size, body + 19, &n, &keys) != SIHL_OK) return 0;
    if (keys.threshold == 0 || keys.threshold > keys.key_count) __builtin_trap();
    (void)sihl_threshold(&r, n, (uint8_t)((size - n - 4) / 96u), body, 19 + n, &t.root);
    return 0;
}
