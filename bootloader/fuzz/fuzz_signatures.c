/* libFuzzer: FORMAT.md §Signature block and §Threshold: the block, then its entries checked against
 * the vectors' root key over the rest of the input as the message. */
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_trust t;
    struct sihl_reader r;
    uint8_t count;
    size_t block;
    if (size < 2) return 0;
    block = data[0] * 4u + 4u < size - 1 ? data[0] * 4u + 4u : size - 1; /* block length from byte 0 */
    r = memory_reader(data + 1, block);
    vector_trust(&t);
    if (sihl_block_decode(data + 1, block, &count) != SIHL_OK) return 0;
    (void)sihl_threshold(&r, 0, count, data + 1 + block, size - 1 - block, &t.root);
    return 0;
}
