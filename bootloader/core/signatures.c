/* FORMAT.md §Signature block and §Threshold. Entries are read one at a time from the image; the
 * message is in RAM (libsodium's Ed25519 verification takes it whole). */
#include <string.h>

#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_sign_ed25519.h>

#include "internal.h"

sihl_reason sihl_block_decode(const uint8_t head[4], uint64_t length, uint8_t *count)
{
    *count = 0;
    if (length == 0) return SIHL_SIGNATURE_BLOCK_MALFORMED;
    *count = head[0];
    if (head[0] > SIHL_SIGNATURES_MAX) return SIHL_LIMIT_EXCEEDED;
    if (length < 4 || head[1] != 0 || head[2] != 0 || head[3] != 0) return SIHL_SIGNATURE_BLOCK_MALFORMED;
    if (length != 4u + (uint64_t)SIHL_ENTRY_BYTES * head[0]) return SIHL_SIGNATURE_BLOCK_MALFORMED;
    return SIHL_OK;
}

sihl_reason sihl_threshold(const struct sihl_reader *image, uint64_t offset, uint8_t count,
                           const uint8_t *message, size_t message_length,
                           const struct sihl_keyset *trusted)
{
    uint8_t ids[SIHL_KEYS_MAX][32];
    uint8_t entry[SIHL_ENTRY_BYTES];
    uint8_t previous[32];
    uint16_t used = 0; /* bit k: trusted key k has signed */
    unsigned i, k;
    sihl_reason r;
    for (k = 0; k < trusted->key_count && k < SIHL_KEYS_MAX; k++)
        crypto_hash_sha256(ids[k], trusted->keys[k], 32);
    for (i = 0; i < count; i++) {
        r = sihl_read(image, offset + 4u + (uint64_t)SIHL_ENTRY_BYTES * i, entry, sizeof entry);
        if (r != SIHL_OK) return r;
        /* 1. the trusted key whose id is the entry's */
        for (k = 0; k < trusted->key_count && k < SIHL_KEYS_MAX; k++)
            if (memcmp(ids[k], entry, 32) == 0) break;
        if (k == trusted->key_count || k == SIHL_KEYS_MAX) return SIHL_SIGNATURE_UNKNOWN_KEY;
        /* 2. not used by an earlier entry */
        if (used & (1u << k)) return SIHL_SIGNATURE_DUPLICATE_KEY;
        /* 3. key ids rise */
        if (i > 0 && memcmp(previous, entry, 32) > 0) return SIHL_SIGNATURE_BLOCK_MALFORMED;
        /* 4. the signature, strictly */
        if (crypto_sign_ed25519_verify_detached(entry + 32, message, message_length, trusted->keys[k]) != 0)
            return SIHL_SIGNATURE_INVALID;
        used = (uint16_t)(used | (1u << k));
        memcpy(previous, entry, 32);
    }
    return count < trusted->threshold ? SIHL_SIGNATURE_THRESHOLD : SIHL_OK;
}
