/* The secure element port: the device's keys stay inside it; it keeps the trust anchors and the
 * counters that never go down (docs/FORMAT.md §Root chain, §Delegation, §Verification). A port backed
 * by real hardware opens sealed boxes inside the chip; a port that keeps the X25519 secret key in
 * protected flash may call sihl_open_sealed_with_secret() (sihl.h), which is libsodium's
 * crypto_box_seal_open. Every function returns 0 on success, non-zero on failure. */
#ifndef SIHL_SECURE_ELEMENT_H
#define SIHL_SECURE_ELEMENT_H

#include <stddef.h>
#include <stdint.h>

#define SIHL_KEYS_MAX 16

/* A set of Ed25519 public keys with the number of signatures required (root or delegation). */
struct sihl_keyset {
    uint32_t version;  /* root version (1 for the vendor's first root) or delegation version */
    uint8_t threshold; /* 1..key_count */
    uint8_t key_count; /* 1..SIHL_KEYS_MAX */
    uint8_t keys[SIHL_KEYS_MAX][32];
};

struct sihl_trust {
    struct sihl_keyset root;       /* pinned root: keys, threshold and version */
    uint32_t delegation_version;   /* highest delegation version accepted (0: none yet) */
    uint32_t security_counter;     /* anti-rollback: the lowest security version still allowed */
};

struct sihl_secure_element {
    void *ctx;
    int (*trust)(void *ctx, struct sihl_trust *out);
    /* The device's X25519 public key (key envelopes are sealed to it). */
    int (*box_public_key)(void *ctx, uint8_t out[32]);
    /* crypto_box_seal_open of `sealed` (sealed_len bytes) with the device's X25519 key pair into
     * `out` (sealed_len - 48 bytes). Non-zero when the box does not open. */
    int (*open_sealed)(void *ctx, const uint8_t *sealed, size_t sealed_len, uint8_t *out);
    /* Raises the counters to at least these values and pins `root` if its version is above the pinned
     * one (root may be NULL); never lowers anything. */
    int (*advance)(void *ctx, uint32_t security_version, uint32_t delegation_version,
                   const struct sihl_keyset *root);
    /* docs/BOOT.md §Secure element: crypto_auth (HMAC-SHA-512-256) of `message` under the record key that
     * never leaves the element, and its check (0 when `tag` verifies). Boot-state records only. */
    int (*tag_record)(void *ctx, const uint8_t *message, size_t length, uint8_t tag[32]);
    int (*check_record)(void *ctx, const uint8_t *message, size_t length, const uint8_t tag[32]);
};

#endif
