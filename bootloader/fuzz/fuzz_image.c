/* libFuzzer: a whole image through sihl_verify (every parser in the order of FORMAT.md §Verification)
 * and, when it verifies, sihl_unpack. */
#include "common.h"

static struct sihl_work work;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sihl_trust t;
    struct sihl_image m;
    struct sihl_reader r = memory_reader(data, size);
    struct sihl_writer w;
    vector_trust(&t);
    w.ctx = NULL;
    w.write = discard_write;
    if (sihl_verify(&r, &t, NULL, &work, &m) == SIHL_OK && m.encryption == SIHL_ENCRYPTION_NONE)
        (void)sihl_unpack(&r, &m, NULL, &work, &w);
    return 0;
}
