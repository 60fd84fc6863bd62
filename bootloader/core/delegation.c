/* FORMAT.md §Delegation: a versioned key set (also a root statement's body) and the delegation's
 * split into body and root signature block. */
#include <string.h>

#include <sodium/crypto_core_ed25519.h>
#include <sodium/crypto_hash_sha256.h>

#include "internal.h"

sihl_reason sihl_keyset_decode(const uint8_t *body, size_t length, sihl_reason malformed,
                               struct sihl_keyset *out)
{
    uint8_t id[32], previous[32];
    unsigned count, threshold, i;
    if (length < 8) return malformed;
    out->version = sihl_le32(body);
    threshold = body[4];
    count = body[5];
    if (body[6] != 0 || body[7] != 0) return malformed;
    if (count > SIHL_KEYS_MAX) return SIHL_LIMIT_EXCEEDED;
    if (out->version == 0) return malformed;
    if (threshold == 0 || threshold > count) return malformed;
    for (i = 0; i < count; i++) {
        const uint8_t *key = body + 8 + 32u * i;
        if (length - 8 < 32u * (i + 1)) return malformed;
        /* FORMAT.md §Conventions: a trusted key is a valid point of the prime-order subgroup. */
        if (crypto_core_ed25519_is_valid_point(key) != 1) return malformed;
        crypto_hash_sha256(id, key, 32);
        if (i > 0 && memcmp(previous, id, 32) >= 0) return malformed;
        memcpy(previous, id, 32);
        memcpy(out->keys[i], key, 32);
    }
    if (length != 8u + 32u * count) return malformed;
    out->threshold = (uint8_t)threshold;
    out->key_count = (uint8_t)count;
    return SIHL_OK;
}

sihl_reason sihl_delegation_decode(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                   uint8_t *body, size_t *body_length, struct sihl_keyset *keys)
{
    uint8_t head[4];
    uint8_t count;
    size_t n;
    sihl_reason r;
    if (length > SIHL_DELEGATION_MAX) return SIHL_LIMIT_EXCEEDED;
    if (length < 8) return SIHL_DELEGATION_MALFORMED;
    r = sihl_read(image, offset, body, 8);
    if (r != SIHL_OK) return r;
    if (body[5] > SIHL_KEYS_MAX) return SIHL_LIMIT_EXCEEDED;
    n = 8u + 32u * body[5];
    if (length < n) return SIHL_DELEGATION_MALFORMED;
    r = sihl_read(image, offset + 8, body + 8, n - 8);
    if (r != SIHL_OK) return r;
    r = sihl_keyset_decode(body, n, SIHL_DELEGATION_MALFORMED, keys);
    if (r != SIHL_OK) return r;
    *body_length = n;
    /* The rest is the root signature block. */
    memset(head, 0, sizeof head);
    r = sihl_read(image, offset + n, head, length - n < 4 ? length - n : 4);
    if (r != SIHL_OK) return r;
    return sihl_block_decode(head, length - n, &count);
}
