/* FORMAT.md §Envelope: the content key for one image on one device, checked in the document's order. */
#include <string.h>

#include <sodium/crypto_box.h>
#include <sodium/crypto_hash_sha256.h>
#include <sodium/utils.h>

#include "internal.h"

#define SEALED_BYTES 112u

sihl_reason sihl_open_envelope(const uint8_t e[SIHL_ENVELOPE_BYTES], const struct sihl_image *image,
                               const struct sihl_secure_element *se, uint8_t key_out[32])
{
    static const uint8_t magic[4] = {0x53, 0x49, 0x48, 0x4b};
    uint8_t pk[32], recipient[32], inner[64];
    if (memcmp(e, magic, 4) != 0 || sihl_le16(e + 4) != 1 || sihl_le16(e + 6) != 0)
        return SIHL_ENVELOPE_MALFORMED;
    if (se->box_public_key(se->ctx, pk) != 0) return SIHL_INTERNAL;
    crypto_hash_sha256(recipient, pk, 32);
    if (memcmp(e + 8, recipient, 32) != 0) return SIHL_ENVELOPE_WRONG_RECIPIENT;
    if (memcmp(e + 40, image->binding, 32) != 0) return SIHL_ENVELOPE_WRONG_IMAGE;
    if (se->open_sealed(se->ctx, e + 72, SEALED_BYTES, inner) != 0) return SIHL_ENVELOPE_OPEN_FAILED;
    if (memcmp(inner + 32, image->binding, 32) != 0) {
        sodium_memzero(inner, sizeof inner);
        return SIHL_ENVELOPE_WRONG_IMAGE;
    }
    memcpy(key_out, inner, 32);
    sodium_memzero(inner, sizeof inner);
    return SIHL_OK;
}
