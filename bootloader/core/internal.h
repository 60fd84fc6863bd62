/* Shared inside the core only: byte helpers, limits (FORMAT.md §Limits) and the parsers' entry points. */
#ifndef SIHL_INTERNAL_H
#define SIHL_INTERNAL_H

#include "sihl/sihl.h"

#define SIHL_HEADER_BYTES 32u
#define SIHL_DELEGATION_MAX 8192u
#define SIHL_SIGNATURE_BLOCK_MAX 4096u
#define SIHL_ROOT_CHAIN_MAX 16384u
#define SIHL_ROOT_STATEMENTS_MAX 32u
#define SIHL_SIGNATURES_MAX 16u
#define SIHL_TEXT_MAX 64u
#define SIHL_PLAINTEXT_MAX (UINT64_C(1) << 32)
#define SIHL_COMPRESSED_MAX ((UINT64_C(1) << 32) + (UINT64_C(1) << 26))
#define SIHL_PAYLOAD_MAX (SIHL_COMPRESSED_MAX + (SIHL_COMPRESSED_MAX / 256u) * (17u + 32u))
#define SIHL_U64_SAFE_MAX ((UINT64_C(1) << 53) - 1u)
#define SIHL_CHUNK_MIN 256u
#define SIHL_CHUNK_LIMIT (1024u * 1024u)
#define SIHL_BROTLI_LOG_MIN 10u
#define SIHL_LZMA2_LOG_MIN 12u
#define SIHL_WINDOW_LOG_MAX 16u
#define SIHL_STREAM_OVERHEAD 17u
#define SIHL_LINK_BYTES 32u
#define SIHL_FLAG_DOWNGRADE 1u
#define SIHL_ENTRY_BYTES 96u
#define SIHL_KEYSET_BODY_MAX (8u + 32u * SIHL_KEYS_MAX)

uint16_t sihl_le16(const uint8_t *p);
uint32_t sihl_le32(const uint8_t *p);
uint64_t sihl_le64(const uint8_t *p);
void sihl_put_le32(uint8_t *p, uint32_t v);

/* Reads exactly `length` bytes at `offset` of the image; a failing read is a flash fault. */
sihl_reason sihl_read(const struct sihl_reader *image, uint64_t offset, uint8_t *out, size_t length);

struct sihl_header {
    uint32_t manifest_length, delegation_length, signature_block_length, root_chain_length;
    uint64_t payload_length;
};
/* FORMAT.md §Header and §Layout: decodes the 32 bytes and checks them against the image size. */
sihl_reason sihl_header_decode(const uint8_t bytes[SIHL_HEADER_BYTES], uint64_t image_size,
                               struct sihl_header *out);

/* FORMAT.md §Manifest: strict decoding and consistency; fills the manifest fields of *out. */
sihl_reason sihl_manifest_decode(const uint8_t *manifest, size_t length, struct sihl_image *out);

/* FORMAT.md §Signature block: the block header checked against the block's length; *count out.
 * Only the first min(4, length) bytes of head are read. */
sihl_reason sihl_block_decode(const uint8_t head[4], uint64_t length, uint8_t *count);

/* FORMAT.md §Threshold over the `count` entries at `offset` of the image. */
sihl_reason sihl_threshold(const struct sihl_reader *image, uint64_t offset, uint8_t count,
                           const uint8_t *message, size_t message_length,
                           const struct sihl_keyset *trusted);

/* FORMAT.md §Delegation body rules (also a root statement's body): `malformed` is the error code. */
sihl_reason sihl_keyset_decode(const uint8_t *body, size_t length, sihl_reason malformed,
                               struct sihl_keyset *out);

/* FORMAT.md §Delegation: structure of the delegation at `offset`; its body is copied into `body`
 * (8 + 32 × key_count bytes, *body_length) and decoded into *keys. */
sihl_reason sihl_delegation_decode(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                   uint8_t *body, size_t *body_length, struct sihl_keyset *keys);

/* FORMAT.md §Root chain: strict structure (pass 1) and the walk from the pinned root (pass 2).
 * `current` holds the pinned root and ends as the resulting root. `body` is scratch of
 * 32 + SIHL_KEYSET_BODY_MAX bytes, `next` a scratch key set. */
sihl_reason sihl_root_chain_check(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                  uint8_t *body, struct sihl_keyset *next);
sihl_reason sihl_root_chain_walk(const struct sihl_reader *image, uint64_t offset, uint32_t length,
                                 uint8_t *body, struct sihl_keyset *current, struct sihl_keyset *next);

/* FORMAT.md §Chunk chain: how a manifest's payload is cut into stored chunks. */
struct sihl_chain {
    uint64_t count;   /* pieces, and stored chunks */
    uint64_t stride;  /* piece bytes + link: where stored chunk i + 1 starts after chunk i */
    uint32_t piece;   /* bytes of every piece but the last: chunk size, plus 17 when encrypted */
};
void sihl_chain_layout(const struct sihl_image *m, struct sihl_chain *out);
/* Payload bytes a manifest's compressed size, chunk size and encryption imply (pieces and links). */
uint64_t sihl_chain_payload_size(const struct sihl_image *m);
/* Stored chunk i: its offset in the payload and its length (its piece and, unless last, its link). */
void sihl_chain_chunk(const struct sihl_chain *c, const struct sihl_image *m, uint64_t i, uint64_t *offset,
                      uint64_t *length);

/* FORMAT.md §Branch filters, streaming: converts what it can and says how many bytes are final. */
size_t sihl_unfilter(uint8_t filter, uint8_t *data, size_t length, uint64_t position, int last);

#endif
