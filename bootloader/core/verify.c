/* FORMAT.md §Verification, steps 1 to 6, in that order. The manifest stays in work->message: the
 * fields returned are those of the bytes whose signatures were checked. */
#include <string.h>

#include <sodium/crypto_hash_sha256.h>

#include "internal.h"

static const char image_context[] = "sihl/v1/image";            /* 14 bytes with its zero */
static const char delegation_context[] = "sihl/v1/delegation";  /* 19 */
static const char stream_context[] = "sihl/v1/stream";          /* 15 */
#define IMAGE_CONTEXT_BYTES 14u
#define DELEGATION_CONTEXT_BYTES 19u

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        sihl_reason r_ = (expr);                                                                   \
        if (r_ != SIHL_OK) return r_;                                                              \
    } while (0)

/* FORMAT.md §Chunk chain, the whole chain: each stored chunk hashed and compared with the digest
 * announced before it. Nothing of a piece is used here, so a piece larger than the buffer is hashed in
 * steps; the link is read once, hashed, and only then becomes the next expected digest. */
static sihl_reason payload_chain(const struct sihl_reader *image, const struct sihl_image *m, uint8_t *buffer,
                                 size_t buffer_size)
{
    struct sihl_chain chain;
    uint8_t expected[32], link[SIHL_LINK_BYTES], digest[32];
    uint64_t i;
    memcpy(expected, m->payload_digest, 32);
    sihl_chain_layout(m, &chain);
    for (i = 0; i < chain.count; i++) {
        crypto_hash_sha256_state hash;
        uint64_t offset, length, piece, done = 0;
        int last = i + 1u == chain.count;
        sihl_chain_chunk(&chain, m, i, &offset, &length);
        piece = last ? length : length - SIHL_LINK_BYTES;
        crypto_hash_sha256_init(&hash);
        while (done < piece) {
            size_t step = piece - done < buffer_size ? (size_t)(piece - done) : buffer_size;
            TRY(sihl_read(image, m->payload_offset + offset + done, buffer, step));
            crypto_hash_sha256_update(&hash, buffer, step);
            done += step;
        }
        if (!last) {
            TRY(sihl_read(image, m->payload_offset + offset + piece, link, sizeof link));
            crypto_hash_sha256_update(&hash, link, sizeof link);
        }
        crypto_hash_sha256_final(&hash, digest);
        if (memcmp(digest, expected, 32) != 0) return SIHL_PAYLOAD_DIGEST_MISMATCH;
        if (!last) memcpy(expected, link, sizeof link);
    }
    return SIHL_OK;
}

sihl_reason sihl_verify(const struct sihl_reader *image, const struct sihl_trust *trust,
                        const struct sihl_expect *expect, struct sihl_work *work,
                        struct sihl_image *out)
{
    uint8_t header[SIHL_HEADER_BYTES];
    uint8_t head[4] = {0, 0, 0, 0};
    struct sihl_header h;
    uint64_t manifest_at, delegation_at, signatures_at, chain_at;
    size_t body_length;
    uint8_t signature_count;
    uint8_t *manifest = work->message + IMAGE_CONTEXT_BYTES;
    crypto_hash_sha256_state hash;

    memset(out, 0, sizeof *out);
    /* 1. header and layout */
    if (image->size < SIHL_HEADER_BYTES) return SIHL_IMAGE_TRUNCATED;
    TRY(sihl_read(image, 0, header, sizeof header));
    TRY(sihl_header_decode(header, image->size, &h));
    manifest_at = SIHL_HEADER_BYTES;
    delegation_at = manifest_at + h.manifest_length;
    signatures_at = delegation_at + h.delegation_length;
    chain_at = signatures_at + h.signature_block_length;
    out->manifest_length = h.manifest_length;
    out->delegation_length = h.delegation_length;
    out->signature_block_length = h.signature_block_length;
    out->root_chain_length = h.root_chain_length;
    out->payload_offset = chain_at + h.root_chain_length;
    out->payload_length = h.payload_length;

    /* 2. every part decoded strictly, in the order of the image */
    memcpy(work->message, image_context, IMAGE_CONTEXT_BYTES);
    TRY(sihl_read(image, manifest_at, manifest, h.manifest_length));
    TRY(sihl_manifest_decode(manifest, h.manifest_length, out));
    if (out->payload_size != h.payload_length) return SIHL_IMAGE_BAD_HEADER;
    TRY(sihl_delegation_decode(image, delegation_at, h.delegation_length, work->body + DELEGATION_CONTEXT_BYTES,
                               &body_length, &work->keys[2]));
    TRY(sihl_read(image, signatures_at, head, h.signature_block_length < 4 ? h.signature_block_length : 4));
    TRY(sihl_block_decode(head, h.signature_block_length, &signature_count));
    TRY(sihl_root_chain_check(image, chain_at, h.root_chain_length, work->body, &work->keys[1]));

    /* 3. the root chain from the pinned root, then the delegation under the resulting root */
    memcpy(&work->keys[0], &trust->root, sizeof work->keys[0]);
    TRY(sihl_root_chain_walk(image, chain_at, h.root_chain_length, work->body, &work->keys[0], &work->keys[1]));
    memcpy(work->body, delegation_context, DELEGATION_CONTEXT_BYTES);
    TRY(sihl_delegation_decode(image, delegation_at, h.delegation_length, work->body + DELEGATION_CONTEXT_BYTES,
                               &body_length, &work->keys[2]));
    TRY(sihl_threshold(image, delegation_at + body_length, (uint8_t)((h.delegation_length - body_length - 4) / 96u),
                       work->body, DELEGATION_CONTEXT_BYTES + body_length, &work->keys[0]));
    if (work->keys[2].version < trust->delegation_version) return SIHL_DELEGATION_ROLLBACK;

    /* 4. the approvers' threshold over the manifest */
    TRY(sihl_threshold(image, signatures_at, signature_count, work->message,
                       IMAGE_CONTEXT_BYTES + h.manifest_length, &work->keys[2]));

    /* 5. model and anti-rollback counter */
    if (expect != NULL) {
        if (expect->model != NULL && strcmp(expect->model, out->model) != 0) return SIHL_MODEL_MISMATCH;
        if (out->security_version < expect->min_security_version) return SIHL_SECURITY_VERSION_ROLLBACK;
    }

    /* 6. the payload's chunk chain, from the signed payload digest to the last stored chunk */
    if (expect == NULL || !expect->defer_payload)
        TRY(payload_chain(image, out, work->cipher, sizeof work->cipher));

    /* FORMAT.md §Stream binding: the manifest without its last record (35 bytes). */
    crypto_hash_sha256_init(&hash);
    crypto_hash_sha256_update(&hash, (const uint8_t *)stream_context, sizeof stream_context);
    crypto_hash_sha256_update(&hash, manifest, h.manifest_length - 35u);
    crypto_hash_sha256_final(&hash, out->binding);
    out->delegation_version = work->keys[2].version;
    memcpy(&out->root, &work->keys[0], sizeof out->root);
    return SIHL_OK;
}
