/* What libsodium expects from its platform layer, for a bootloader that never draws random bytes:
 * the files compiled for verification also hold key generation functions that call randombytes_buf;
 * nothing in the core calls them, and if anything ever did, it stops here instead of using weak
 * randomness. sodium_misuse (libsodium's sodium/core.c, which needs threads) stops the same way. */
#include <stdlib.h>

#include <sodium/core.h>
#include <sodium/randombytes.h>

void sodium_misuse(void) { abort(); }

void randombytes_buf(void *const buf, const size_t size)
{
    (void)buf;
    (void)size;
    abort();
}
