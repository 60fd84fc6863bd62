/* FORMAT.md §Unpacking: the payload read again message by message, hashed, decrypted, decompressed,
 * unfiltered, hashed and written. Each message is decrypted and its plaintext decompressed before the
 * next is read, so the first message that breaks a rule decides the error (FORMAT.md §Which error). */
#include <string.h>

#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_secretstream_xchacha20poly1305.h>
#include <sodium/utils.h>

#include "lzma.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        sihl_reason r_ = (expr);                                                                   \
        if (r_ != SIHL_OK) return r_;                                                              \
    } while (0)

struct unpacker {
    const struct sihl_image *m;
    struct sihl_work *work;
    const struct sihl_writer *writer;
    struct sihl_lzma lzma;
    crypto_hash_sha256_state plain_hash;
    uint64_t produced;  /* decompressed bytes so far */
    uint64_t position;  /* firmware bytes written so far */
    size_t carry;       /* bytes at the front of work->out that wait for the branch filter */
};

static sihl_reason emit(struct unpacker *u, const uint8_t *data, size_t length)
{
    if (length == 0) return SIHL_OK;
    crypto_hash_sha256_update(&u->plain_hash, data, length);
    u->position += length;
    return u->writer->write(u->writer->ctx, data, length) == 0 ? SIHL_OK : SIHL_FLASH_FAULT;
}

/* Decompressed bytes: counted against the signed size, then through the branch filter. */
static sihl_reason decompressed(struct unpacker *u, size_t made, int last)
{
    uint8_t *out = u->work->out;
    size_t have = u->carry + made, done;
    u->produced += made;
    /* FORMAT.md §Compression: stop as soon as the stream would pass the signed plaintext size. */
    if (u->produced > u->m->plaintext_size) return SIHL_PLAINTEXT_SIZE_MISMATCH;
    done = sihl_unfilter(u->m->filter, out, have, u->position, last);
    TRY(emit(u, out, done));
    memmove(out, out + done, have - done);
    u->carry = have - done;
    return SIHL_OK;
}

/* One piece of the compressed stream, in order. */
static sihl_reason compressed(struct unpacker *u, const uint8_t *in, size_t length)
{
    if (u->m->compression == SIHL_COMPRESSION_NONE) {
        u->produced += length;
        if (u->produced > u->m->plaintext_size) return SIHL_PLAINTEXT_SIZE_MISMATCH;
        return emit(u, in, length);
    }
    for (;;) {
        size_t used, made, space = sizeof u->work->out - u->carry;
        sihl_reason r;
        if (u->lzma.ended) {
            /* FORMAT.md §Compression: nothing may follow the end of the LZMA2 stream. */
            return length > 0 ? SIHL_DECOMPRESS_FAILED : SIHL_OK;
        }
        if (length == 0) return SIHL_OK;
        r = sihl_lzma_run(&u->lzma, in, length, &used, u->work->out + u->carry, space, &made);
        in += used;
        length -= used;
        /* What the decoder produced before it found bad data counts first (FORMAT.md §Which error). */
        TRY(decompressed(u, made, 0));
        if (r != SIHL_OK) return r;
        if (used == 0 && made == 0 && !u->lzma.ended) return SIHL_DECOMPRESS_FAILED; /* no progress */
        /* A full output buffer may hide more output for the same input: go round again. */
        if (length == 0 && made < space) return SIHL_OK;
    }
}

static sihl_reason pull_messages(struct unpacker *u, const struct sihl_reader *image, const uint8_t *key,
                                 crypto_hash_sha256_state *payload_hash)
{
    const struct sihl_image *m = u->m;
    crypto_secretstream_xchacha20poly1305_state st;
    uint64_t chunks = (m->compressed_size + m->chunk_size - 1) / m->chunk_size, i;
    uint64_t offset = m->payload_offset, remaining = m->compressed_size;
    sihl_reason r = SIHL_OK;
    if (chunks == 0) chunks = 1;
    crypto_secretstream_xchacha20poly1305_init_pull(&st, m->stream_header, key);
    for (i = 0; i < chunks && r == SIHL_OK; i++) {
        size_t plain = remaining < m->chunk_size ? (size_t)remaining : m->chunk_size;
        unsigned long long plain_length = 0;
        unsigned char tag = 0;
        r = sihl_read(image, offset, u->work->cipher, plain + SIHL_STREAM_OVERHEAD);
        if (r != SIHL_OK) break;
        offset += plain + SIHL_STREAM_OVERHEAD;
        remaining -= plain;
        crypto_hash_sha256_update(payload_hash, u->work->cipher, plain + SIHL_STREAM_OVERHEAD);
        if (crypto_secretstream_xchacha20poly1305_pull(&st, u->work->plain, &plain_length, &tag, u->work->cipher,
                                                       plain + SIHL_STREAM_OVERHEAD, m->binding, 32) != 0) {
            r = SIHL_STREAM_DECRYPT_FAILED;
            break;
        }
        /* FORMAT.md §Encryption: MESSAGE or FINAL only; FINAL on the last message and only there. */
        if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
            tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            r = SIHL_STREAM_DECRYPT_FAILED;
        else if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL && i + 1 < chunks)
            r = SIHL_STREAM_TRAILING_DATA;
        else if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL && i + 1 == chunks)
            r = SIHL_STREAM_TRUNCATED;
        else
            r = compressed(u, u->work->plain, (size_t)plain_length);
    }
    sodium_memzero(&st, sizeof st);
    sodium_memzero(u->work->plain, sizeof u->work->plain);
    return r;
}

static sihl_reason read_plain(struct unpacker *u, const struct sihl_reader *image,
                              crypto_hash_sha256_state *payload_hash)
{
    uint64_t done = 0;
    while (done < u->m->payload_size) {
        uint64_t left = u->m->payload_size - done;
        size_t step = left < sizeof u->work->cipher ? (size_t)left : sizeof u->work->cipher;
        TRY(sihl_read(image, u->m->payload_offset + done, u->work->cipher, step));
        crypto_hash_sha256_update(payload_hash, u->work->cipher, step);
        done += step;
        TRY(compressed(u, u->work->cipher, step));
    }
    return SIHL_OK;
}

sihl_reason sihl_unpack(const struct sihl_reader *image, const struct sihl_image *m, const uint8_t *key,
                        struct sihl_work *work, const struct sihl_writer *writer)
{
    struct unpacker u;
    crypto_hash_sha256_state payload_hash;
    uint8_t digest[32];
    memset(&u, 0, sizeof u);
    u.m = m;
    u.work = work;
    u.writer = writer;
    if (m->encryption == SIHL_ENCRYPTION_SECRETSTREAM && key == NULL) return SIHL_ENVELOPE_REQUIRED;
    if (m->compression == SIHL_COMPRESSION_BROTLI) return SIHL_COMPRESSION_UNSUPPORTED;
    /* docs/BOOTLOADER-C.md §Working memory: one message of at most SIHL_CHUNK_MAX bytes. */
    if (m->encryption == SIHL_ENCRYPTION_SECRETSTREAM && m->chunk_size > SIHL_CHUNK_MAX)
        return SIHL_LIMIT_EXCEEDED;
    if (m->compression == SIHL_COMPRESSION_LZMA2)
        TRY(sihl_lzma_begin(&u.lzma, work->decoder, sizeof work->decoder, m->window_log));
    crypto_hash_sha256_init(&u.plain_hash);
    crypto_hash_sha256_init(&payload_hash);
    if (m->encryption == SIHL_ENCRYPTION_SECRETSTREAM)
        TRY(pull_messages(&u, image, key, &payload_hash));
    else
        TRY(read_plain(&u, image, &payload_hash));
    /* The bytes decrypted are the bytes verified (staging could have changed in between). */
    crypto_hash_sha256_final(&payload_hash, digest);
    if (memcmp(digest, m->payload_digest, 32) != 0) return SIHL_PAYLOAD_DIGEST_MISMATCH;
    if (m->compression == SIHL_COMPRESSION_LZMA2 && !u.lzma.ended) return SIHL_DECOMPRESS_FAILED;
    TRY(decompressed(&u, 0, 1));
    if (u.produced != m->plaintext_size) return SIHL_PLAINTEXT_SIZE_MISMATCH;
    crypto_hash_sha256_final(&u.plain_hash, digest);
    if (memcmp(digest, m->plaintext_digest, 32) != 0) return SIHL_PLAINTEXT_DIGEST_MISMATCH;
    return SIHL_OK;
}
