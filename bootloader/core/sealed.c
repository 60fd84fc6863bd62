/* libsodium's sealed box, for secure-element ports that keep the X25519 secret key themselves. */
#include <sodium/crypto_box.h>

#include "sihl/sihl.h"

int sihl_open_sealed_with_secret(const uint8_t *sealed, size_t sealed_len, const uint8_t pk[32],
                                 const uint8_t sk[32], uint8_t *out)
{
    if (sealed_len < crypto_box_SEALBYTES) return -1;
    return crypto_box_seal_open(out, sealed, sealed_len, pk, sk);
}
