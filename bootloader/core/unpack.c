/* FORMAT.md §Unpacking: the payload read again stored chunk by stored chunk, each authenticated by the
 * chain, then decrypted, decompressed, unfiltered, hashed and written. Each piece is decrypted and its
 * plaintext decompressed before the next is read, so the first piece that breaks a rule decides the
 * error (FORMAT.md §Which error). */
#include <string.h>

#include <sodium/crypto_hash_sha256.h>
#include <sodium/crypto_secretstream_xchacha20poly1305.h>
#include <sodium/utils.h>

#include "brotli.h"
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
#if SIHL_BROTLI
    struct sihl_brotli brotli;
#endif
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

/* The decoder the manifest names, behind one interface (sihl_lzma_run's). */
static sihl_reason decode(struct unpacker *u, const uint8_t *in, size_t length, size_t *used, uint8_t *out,
                          size_t space, size_t *made)
{
#if SIHL_BROTLI
    if (u->m->compression == SIHL_COMPRESSION_BROTLI)
        return sihl_brotli_run(&u->brotli, in, length, used, out, space, made);
#endif
    return sihl_lzma_run(&u->lzma, in, length, used, out, space, made);
}

static int decoder_ended(const struct unpacker *u)
{
#if SIHL_BROTLI
    if (u->m->compression == SIHL_COMPRESSION_BROTLI) return u->brotli.ended;
#endif
    return u->lzma.ended;
}

/* One piece of the compressed stream, in order. Decoded bytes go to the writer as they come, so a
 * stream that breaks inside an authenticated piece may have had some of that piece's output written
 * (docs/BOOT.md §Install step 10). */
static sihl_reason compressed(struct unpacker *u, const uint8_t *in, size_t length)
{
    int full = 0; /* the last call filled the output buffer: the decoder may hold more */
    if (u->m->compression == SIHL_COMPRESSION_NONE) {
        u->produced += length;
        if (u->produced > u->m->plaintext_size) return SIHL_PLAINTEXT_SIZE_MISMATCH;
        return emit(u, in, length);
    }
    for (;;) {
        size_t used, made, space = sizeof u->work->out - u->carry;
        sihl_reason r;
        if (decoder_ended(u)) {
            /* FORMAT.md §Compression: nothing may follow the end of the compressed stream. */
            return length > 0 ? SIHL_DECOMPRESS_FAILED : SIHL_OK;
        }
        if (length == 0 && !full) return SIHL_OK;
        r = decode(u, in, length, &used, u->work->out + u->carry, space, &made);
        in += used;
        length -= used;
        /* What the decoder produced before it found bad data counts first (FORMAT.md §Which error). */
        TRY(decompressed(u, made, 0));
        if (r != SIHL_OK) return r;
        if (used == 0 && made == 0 && !decoder_ended(u)) {
            if (length > 0) return SIHL_DECOMPRESS_FAILED; /* no progress */
            return SIHL_OK;
        }
        /* A full output buffer may hide more output for the same input: go round again. */
        full = made == space;
    }
}

/* One piece, authenticated: decrypted when the image is encrypted (FORMAT.md §Encryption), then
 * decompressed. `st` is NULL for a signed-only image. */
static sihl_reason piece(struct unpacker *u, crypto_secretstream_xchacha20poly1305_state *st, const uint8_t *in,
                         size_t length, int last)
{
    unsigned long long plain_length = 0;
    unsigned char tag = 0;
    if (st == NULL) return compressed(u, in, length);
    if (crypto_secretstream_xchacha20poly1305_pull(st, u->work->plain, &plain_length, &tag, in, length,
                                                   u->m->binding, 32) != 0)
        return SIHL_STREAM_DECRYPT_FAILED;
    /* FORMAT.md §Encryption: MESSAGE or FINAL only; FINAL on the last message and only there. */
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
        tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
        return SIHL_STREAM_DECRYPT_FAILED;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL && !last) return SIHL_STREAM_TRAILING_DATA;
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL && last) return SIHL_STREAM_TRUNCATED;
    return compressed(u, u->work->plain, (size_t)plain_length);
}

/* FORMAT.md §Chunk chain: each stored chunk is read once into work->cipher, hashed there and compared
 * with the digest announced before it; only then is its piece used, from that buffer, and its link
 * becomes the next expected digest. Storage that changes after verification stops the unpacking at
 * the first chunk it touches. */
static sihl_reason pull_chunks(struct unpacker *u, const struct sihl_reader *image,
                               crypto_secretstream_xchacha20poly1305_state *st)
{
    const struct sihl_image *m = u->m;
    struct sihl_chain chain;
    uint8_t expected[32], digest[32];
    uint64_t i;
    sihl_chain_layout(m, &chain);
    memcpy(expected, m->payload_digest, 32);
    for (i = 0; i < chain.count; i++) {
        uint64_t offset, length;
        int last = i + 1u == chain.count;
        sihl_chain_chunk(&chain, m, i, &offset, &length);
        /* chunk_size ≤ SIHL_CHUNK_MAX was checked by the caller, so a stored chunk fits the buffer. */
        if (length > sizeof u->work->cipher || (!last && length < SIHL_LINK_BYTES)) return SIHL_INTERNAL;
        TRY(sihl_read(image, m->payload_offset + offset, u->work->cipher, (size_t)length));
        crypto_hash_sha256(digest, u->work->cipher, length);
        if (memcmp(digest, expected, 32) != 0) return SIHL_PAYLOAD_DIGEST_MISMATCH;
        if (!last) {
            length -= SIHL_LINK_BYTES;
            memcpy(expected, u->work->cipher + length, SIHL_LINK_BYTES);
        }
        TRY(piece(u, st, u->work->cipher, (size_t)length, last));
    }
    return SIHL_OK;
}

sihl_reason sihl_unpack(const struct sihl_reader *image, const struct sihl_image *m, const uint8_t *key,
                        struct sihl_work *work, const struct sihl_writer *writer)
{
    struct unpacker u;
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t digest[32];
    sihl_reason r;
    memset(&u, 0, sizeof u);
    u.m = m;
    u.work = work;
    u.writer = writer;
    /* Only an image from sihl_verify is unpacked: its chunk size is at least 256 (no division by zero). */
    if (m->chunk_size < SIHL_CHUNK_MIN) return SIHL_INTERNAL;
    if (m->encryption == SIHL_ENCRYPTION_SECRETSTREAM && key == NULL) return SIHL_ENVELOPE_REQUIRED;
#if !SIHL_BROTLI
    if (m->compression == SIHL_COMPRESSION_BROTLI) return SIHL_COMPRESSION_UNSUPPORTED;
#endif
    /* docs/BOOTLOADER-C.md §Working memory: one stored chunk of at most SIHL_CHUNK_MAX bytes of piece. */
    if (m->chunk_size > SIHL_CHUNK_MAX) return SIHL_LIMIT_EXCEEDED;
    if (m->compression == SIHL_COMPRESSION_LZMA2)
        TRY(sihl_lzma_begin(&u.lzma, work->decoder, sizeof work->decoder, m->window_log));
#if SIHL_BROTLI
    if (m->compression == SIHL_COMPRESSION_BROTLI)
        TRY(sihl_brotli_begin(&u.brotli, work->decoder, sizeof work->decoder, m->window_log));
#endif
    crypto_hash_sha256_init(&u.plain_hash);
    if (m->encryption == SIHL_ENCRYPTION_SECRETSTREAM) {
        crypto_secretstream_xchacha20poly1305_init_pull(&st, m->stream_header, key);
        r = pull_chunks(&u, image, &st);
        sodium_memzero(&st, sizeof st);
        sodium_memzero(work->plain, sizeof work->plain);
    } else {
        r = pull_chunks(&u, image, NULL);
    }
    TRY(r);
    if (m->compression != SIHL_COMPRESSION_NONE && !decoder_ended(&u)) return SIHL_DECOMPRESS_FAILED;
    TRY(decompressed(&u, 0, 1));
    if (u.produced != m->plaintext_size) return SIHL_PLAINTEXT_SIZE_MISMATCH;
    crypto_hash_sha256_final(&u.plain_hash, digest);
    if (memcmp(digest, m->plaintext_digest, 32) != 0) return SIHL_PLAINTEXT_DIGEST_MISMATCH;
    return SIHL_OK;
}
