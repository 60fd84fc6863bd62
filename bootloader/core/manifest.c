/* FORMAT.md §Manifest: thirteen records in a fixed order with fixed lengths, then the consistency rules.
 * Errors come in the order of the fields: the first field that breaks a rule decides. */
#include <string.h>

#include "internal.h"

struct cursor {
    const uint8_t *p;
    size_t length, at;
};

/* The next record must carry `tag`; its value is returned through *value. want_length 0: any. */
static sihl_reason record(struct cursor *c, uint8_t tag, size_t want_length, const uint8_t **value,
                          size_t *length)
{
    size_t size;
    if (c->length - c->at < 3) return SIHL_MANIFEST_MALFORMED;
    if (c->p[c->at] != tag) return SIHL_MANIFEST_MALFORMED;
    size = sihl_le16(c->p + c->at + 1);
    c->at += 3;
    if (want_length != 0 && size != want_length) return SIHL_MANIFEST_MALFORMED;
    if (c->length - c->at < size) return SIHL_MANIFEST_MALFORMED;
    *value = c->p + c->at;
    *length = size;
    c->at += size;
    return SIHL_OK;
}

static int is_alnum(uint8_t ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* Model ^[A-Za-z0-9][A-Za-z0-9._-]*$ and version ^[0-9A-Za-z][0-9A-Za-z.+-]*$, 1..64 bytes. ASCII
 * only, so every UTF-8 sequence of more than one byte is refused by the pattern. */
static sihl_reason text(const uint8_t *v, size_t length, const char *extra, char out[65])
{
    size_t i;
    if (length > SIHL_TEXT_MAX || length == 0) return SIHL_MANIFEST_MALFORMED;
    if (!is_alnum(v[0])) return SIHL_MANIFEST_MALFORMED;
    for (i = 1; i < length; i++)
        if (!is_alnum(v[i]) && (v[i] == 0 || strchr(extra, v[i]) == NULL)) return SIHL_MANIFEST_MALFORMED;
    memcpy(out, v, length);
    out[length] = 0;
    return SIHL_OK;
}

/* FORMAT.md §Conventions: a u64 above 2^53 − 1 is refused wherever it appears. */
static sihl_reason u64(const uint8_t *v, uint64_t *out)
{
    *out = sihl_le64(v);
    return *out > SIHL_U64_SAFE_MAX ? SIHL_LIMIT_EXCEEDED : SIHL_OK;
}

static sihl_reason consistent(const struct sihl_image *m)
{
    uint64_t expected;
    if (m->plaintext_size > SIHL_PLAINTEXT_MAX) return SIHL_LIMIT_EXCEEDED;
    if (m->chunk_size > SIHL_CHUNK_LIMIT) return SIHL_LIMIT_EXCEEDED;
    if (m->plaintext_size == 0) return SIHL_MANIFEST_INCONSISTENT;
    if (m->chunk_size < SIHL_CHUNK_MIN) return SIHL_MANIFEST_INCONSISTENT;
    if (m->compression == SIHL_COMPRESSION_NONE) {
        if (m->window_log != 0 || m->filter != SIHL_FILTER_NONE) return SIHL_MANIFEST_INCONSISTENT;
        if (m->compressed_size != m->plaintext_size) return SIHL_MANIFEST_INCONSISTENT;
    } else {
        unsigned min = m->compression == SIHL_COMPRESSION_LZMA2 ? SIHL_LZMA2_LOG_MIN : SIHL_BROTLI_LOG_MIN;
        if (m->window_log < min || m->window_log > SIHL_WINDOW_LOG_MAX) return SIHL_LIMIT_EXCEEDED;
        if (m->compressed_size == 0) return SIHL_MANIFEST_INCONSISTENT;
        if (m->compressed_size > SIHL_COMPRESSED_MAX) return SIHL_LIMIT_EXCEEDED;
    }
    if (m->encryption == SIHL_ENCRYPTION_NONE) {
        unsigned i;
        for (i = 0; i < 24; i++)
            if (m->stream_header[i] != 0) return SIHL_MANIFEST_INCONSISTENT;
    }
    /* FORMAT.md §Chunk chain: pieces, 17 bytes more each when encrypted, and a link after all but the
     * last. compressed_size ≤ 2^32 + 2^26 here, chunk_size ≥ 256: no overflow. */
    expected = sihl_chain_payload_size(m);
    return m->payload_size == expected ? SIHL_OK : SIHL_MANIFEST_INCONSISTENT;
}

sihl_reason sihl_manifest_decode(const uint8_t *manifest, size_t length, struct sihl_image *m)
{
    struct cursor c;
    const uint8_t *v;
    size_t n;
    sihl_reason r;
    if (length > SIHL_MANIFEST_MAX) return SIHL_LIMIT_EXCEEDED;
    c.p = manifest;
    c.length = length;
    c.at = 0;
#define RECORD(tag, len)                                                                           \
    do {                                                                                           \
        r = record(&c, (tag), (len), &v, &n);                                                      \
        if (r != SIHL_OK) return r;                                                                \
    } while (0)
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        r = (expr);                                                                                \
        if (r != SIHL_OK) return r;                                                                \
    } while (0)
    RECORD(0x01, 0);
    CHECK(text(v, n, "._-", m->model));
    RECORD(0x02, 0);
    CHECK(text(v, n, ".+-", m->version));
    RECORD(0x03, 4);
    m->security_version = sihl_le32(v);
    RECORD(0x04, 16);
    memcpy(m->release_id, v, 16);
    RECORD(0x05, 8);
    CHECK(u64(v, &m->created));
    RECORD(0x06, 8);
    CHECK(u64(v, &m->plaintext_size));
    RECORD(0x07, 32);
    memcpy(m->plaintext_digest, v, 32);
    RECORD(0x08, 11);
    m->compression = v[0];
    if (m->compression > SIHL_COMPRESSION_LZMA2) return SIHL_MANIFEST_MALFORMED;
    m->window_log = v[1];
    m->filter = v[2];
    if (m->filter > SIHL_FILTER_ARM) return SIHL_MANIFEST_MALFORMED;
    CHECK(u64(v + 3, &m->compressed_size));
    RECORD(0x09, 25);
    m->encryption = v[0];
    if (m->encryption > SIHL_ENCRYPTION_SECRETSTREAM) return SIHL_MANIFEST_MALFORMED;
    memcpy(m->stream_header, v + 1, 24);
    RECORD(0x0A, 4);
    m->chunk_size = sihl_le32(v);
    RECORD(0x0B, 8);
    CHECK(u64(v, &m->payload_size));
    /* The flags record (tag 0x0D) comes before the payload digest, which stays last. */
    RECORD(0x0D, 4);
    m->flags = sihl_le32(v);
    if ((m->flags & ~(uint32_t)SIHL_FLAG_DOWNGRADE) != 0) return SIHL_MANIFEST_MALFORMED;
    RECORD(0x0C, 32);
    memcpy(m->payload_digest, v, 32);
#undef RECORD
#undef CHECK
    if (c.at != c.length) return SIHL_MANIFEST_MALFORMED;
    return consistent(m);
}
