/* FORMAT.md §Root chain: the strict structure of the chain, then the walk from the pinned root.
 * Both passes read the chain statement by statement from the image (up to 16 KiB stays in flash);
 * the walk decodes each statement again, so bytes that change between the passes are still checked. */
#include <string.h>

#include "internal.h"

static const char root_context[] = "sihl/v1/root"; /* and its terminating zero: 13 bytes */
#define ROOT_CONTEXT_BYTES 13u

struct statement {
    size_t body_length;
    uint64_t previous_offset, own_offset;
    uint8_t previous_count, own_count;
};

/* One signature block at *at inside the chain [base, base + end): FORMAT.md §Signature block. */
static sihl_reason block(const struct sihl_reader *image, uint64_t base, uint64_t end, uint64_t *at,
                         uint8_t *count)
{
    uint8_t head[4];
    uint64_t size;
    sihl_reason r;
    if (end - *at < 1) return SIHL_ROOT_CHAIN_MALFORMED;
    r = sihl_read(image, base + *at, head, 1);
    if (r != SIHL_OK) return r;
    if (head[0] > SIHL_SIGNATURES_MAX) return SIHL_LIMIT_EXCEEDED;
    size = 4u + (uint64_t)SIHL_ENTRY_BYTES * head[0];
    if (end - *at < size) return SIHL_ROOT_CHAIN_MALFORMED;
    r = sihl_read(image, base + *at, head, 4);
    if (r != SIHL_OK) return r;
    r = sihl_block_decode(head, size, count);
    if (r != SIHL_OK) return r;
    *at += size;
    return SIHL_OK;
}

/* The statement at *at: its body into message (after the context) and *keys, and where its blocks are. */
static sihl_reason statement(const struct sihl_reader *image, uint64_t base, uint64_t end, uint64_t *at,
                             uint8_t *message, struct sihl_keyset *keys, struct statement *s)
{
    uint8_t *body = message + ROOT_CONTEXT_BYTES;
    sihl_reason r;
    if (end - *at < 6) return SIHL_ROOT_CHAIN_MALFORMED;
    r = sihl_read(image, base + *at, body, 6);
    if (r != SIHL_OK) return r;
    if (body[5] > SIHL_KEYS_MAX) return SIHL_LIMIT_EXCEEDED;
    s->body_length = 8u + 32u * body[5];
    if (end - *at < s->body_length) return SIHL_ROOT_CHAIN_MALFORMED;
    r = sihl_read(image, base + *at, body, s->body_length);
    if (r != SIHL_OK) return r;
    r = sihl_keyset_decode(body, s->body_length, SIHL_ROOT_CHAIN_MALFORMED, keys);
    if (r != SIHL_OK) return r;
    *at += s->body_length;
    return SIHL_OK;
}

static sihl_reason blocks(const struct sihl_reader *image, uint64_t base, uint64_t end, uint64_t *at,
                          struct statement *s)
{
    sihl_reason r;
    s->previous_offset = base + *at;
    r = block(image, base, end, at, &s->previous_count);
    if (r != SIHL_OK) return r;
    s->own_offset = base + *at;
    return block(image, base, end, at, &s->own_count);
}

static sihl_reason chain_head(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                              uint8_t *count)
{
    uint8_t head[4] = {0, 0, 0, 0};
    sihl_reason r;
    if (length > SIHL_ROOT_CHAIN_MAX) return SIHL_LIMIT_EXCEEDED;
    r = sihl_read(image, offset, head, length < 4 ? length : 4);
    if (r != SIHL_OK) return r;
    *count = head[0];
    if (head[0] > SIHL_ROOT_STATEMENTS_MAX) return SIHL_LIMIT_EXCEEDED;
    if (head[0] == 0) return SIHL_ROOT_CHAIN_MALFORMED;
    if (length < 4 || head[1] != 0 || head[2] != 0 || head[3] != 0) return SIHL_ROOT_CHAIN_MALFORMED;
    return SIHL_OK;
}

/* One pass over the chain. With current 0, the strict structure (FORMAT.md §Root chain, step 1):
 * versions from 2 up by one and nothing after the last statement. Otherwise the walk from the pinned
 * *current (step 2), which it advances statement by statement. */
static sihl_reason chain_pass(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                              uint8_t *message, struct sihl_keyset *current, struct sihl_keyset *next)
{
    uint64_t at = 4;
    uint32_t last_version = 0;
    uint8_t count, i;
    struct statement s;
    sihl_reason r;
    if (length == 0) return SIHL_OK;
    r = chain_head(image, offset, length, &count);
    if (r != SIHL_OK) return r;
    if (current != 0) memcpy(message, root_context, ROOT_CONTEXT_BYTES);
    for (i = 0; i < count; i++) {
        r = statement(image, offset, length, &at, message, next, &s);
        if (r != SIHL_OK) return r;
        if (current == 0) {
            if (next->version < 2) return SIHL_ROOT_CHAIN_MALFORMED;
            if (i > 0 && next->version != last_version + 1u) return SIHL_ROOT_CHAIN_MALFORMED;
            last_version = next->version;
        }
        r = blocks(image, offset, length, &at, &s);
        if (r != SIHL_OK) return r;
        if (current == 0) continue;
        /* A statement at or below the current version is skipped, signatures unchecked: the device
         * trusts what it pinned (FORMAT.md §Root chain, step 2). */
        if (next->version <= current->version) continue;
        if (next->version != current->version + 1u) return SIHL_ROOT_CHAIN_BROKEN;
        r = sihl_threshold(image, s.previous_offset, s.previous_count, message,
                           ROOT_CONTEXT_BYTES + s.body_length, current);
        if (r != SIHL_OK) return r;
        r = sihl_threshold(image, s.own_offset, s.own_count, message, ROOT_CONTEXT_BYTES + s.body_length,
                           next);
        if (r != SIHL_OK) return r;
        memcpy(current, next, sizeof *current);
    }
    return current != 0 || at == length ? SIHL_OK : SIHL_ROOT_CHAIN_MALFORMED;
}

sihl_reason sihl_root_chain_check(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                  uint8_t *message, struct sihl_keyset *next)
{
    return chain_pass(image, offset, length, message, 0, next);
}

sihl_reason sihl_root_chain_walk(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                 uint8_t *message, struct sihl_keyset *current, struct sihl_keyset *next)
{
    return chain_pass(image, offset, length, message, current, next);
}
