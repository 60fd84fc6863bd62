/* sihl's bootloader core: the public API (docs/BOOTLOADER-C.md). Portable C99, no heap, no recursion.
 * Everything the core reads comes through a reader; everything it writes goes through a writer or the
 * flash port; the caller owns all memory (struct sihl_work). Reason codes are FORMAT.md §Error codes. */
#ifndef SIHL_SIHL_H
#define SIHL_SIHL_H

#include <stddef.h>
#include <stdint.h>

#include "sihl/flash.h"
#include "sihl/platform.h"
#include "sihl/secure_element.h"

/* The largest chunk the bootloader unpacks; a bigger signed chunk size is LIMIT_EXCEEDED. The work area
 * holds one stored chunk (piece, 17 bytes of secretstream overhead, 32-byte link) and one plaintext
 * chunk of this size. */
#ifndef SIHL_CHUNK_MAX
#define SIHL_CHUNK_MAX 65536u
#endif
/* The largest LZMA2 dictionary (log2); FORMAT.md allows 2^12..2^16. */
#ifndef SIHL_DICT_LOG_MAX
#define SIHL_DICT_LOG_MAX 16
#endif

/* Brotli (FORMAT.md §Compression, algorithm 1): 1 builds Brotli 1.0.9's decoder in (the host builds;
 * bootloader/Makefile BROTLI=1), 0 refuses Brotli images after verification [COMPRESSION_UNSUPPORTED]
 * (the Cortex-M4 build: docs/BOOTLOADER-C.md §Brotli). Every object of a build must see the same value. */
#ifndef SIHL_BROTLI
#define SIHL_BROTLI 0
#endif
/* The Brotli decoder's arena at a 2^16 window (core/brotli.c, docs/BOOTLOADER-C.md §Brotli). By default
 * the most any RFC 7932 stream can make Brotli 1.0.9's decoder hold at once, so no stream is refused
 * for memory: 256 Huffman trees each of literals, commands and distances (at most 256 + 376, 704 + 376
 * and 520 + 376 four-byte entries, and a pointer, per tree), the context maps (16 KiB and 1 KiB), the
 * context modes (256), the block-type trees (12,336), the decoder's state (under 8 KiB) and the ring
 * buffer (2^16 + 42), with a 16-byte header each: about 2.7 MB. A device build sets less (the Pybricks
 * corpus at quality 11 needs 161 to 399 KB) and refuses a stream that needs more [LIMIT_EXCEEDED]. */
#define SIHL_BROTLI_TREES(alphabet) (256u * (((alphabet) + 376u) * 4u + sizeof(void *)) + 16u)
#ifndef SIHL_BROTLI_ARENA
#define SIHL_BROTLI_ARENA                                                                          \
    (8192u + (12336u + 16u) + (256u + 16u) + (16384u + 16u) + (1024u + 16u) + SIHL_BROTLI_TREES(256u) +   \
     SIHL_BROTLI_TREES(704u) + SIHL_BROTLI_TREES(520u) + (65536u + 42u + 15u) + 16u)
#endif
#define SIHL_LZMA_ARENA ((1u << SIHL_DICT_LOG_MAX) + 32768u)
#if SIHL_BROTLI
#define SIHL_DECODER_BYTES (SIHL_BROTLI_ARENA > SIHL_LZMA_ARENA ? SIHL_BROTLI_ARENA : SIHL_LZMA_ARENA)
#else
#define SIHL_DECODER_BYTES SIHL_LZMA_ARENA
#endif

/* X-macro: the reason codes, FORMAT.md §Error codes first, then the bootloader's own. */
#define SIHL_REASONS(X)                                                                            \
    X(OK)                                                                                          \
    X(IMAGE_BAD_MAGIC)                                                                             \
    X(IMAGE_UNSUPPORTED_VERSION)                                                                   \
    X(IMAGE_BAD_HEADER)                                                                            \
    X(IMAGE_TRUNCATED)                                                                             \
    X(IMAGE_TRAILING_BYTES)                                                                        \
    X(LIMIT_EXCEEDED)                                                                              \
    X(MANIFEST_MALFORMED)                                                                          \
    X(MANIFEST_INCONSISTENT)                                                                       \
    X(DELEGATION_MALFORMED)                                                                        \
    X(DELEGATION_ROLLBACK)                                                                         \
    X(ROOT_CHAIN_MALFORMED)                                                                        \
    X(ROOT_CHAIN_BROKEN)                                                                           \
    X(SIGNATURE_BLOCK_MALFORMED)                                                                   \
    X(SIGNATURE_INVALID)                                                                           \
    X(SIGNATURE_UNKNOWN_KEY)                                                                       \
    X(SIGNATURE_DUPLICATE_KEY)                                                                     \
    X(SIGNATURE_THRESHOLD)                                                                         \
    X(PAYLOAD_DIGEST_MISMATCH)                                                                     \
    X(PLAINTEXT_DIGEST_MISMATCH)                                                                   \
    X(PLAINTEXT_SIZE_MISMATCH)                                                                     \
    X(STREAM_DECRYPT_FAILED)                                                                       \
    X(STREAM_TRUNCATED)                                                                            \
    X(STREAM_TRAILING_DATA)                                                                        \
    X(DECOMPRESS_FAILED)                                                                           \
    X(COMPRESSION_UNSUPPORTED)                                                                     \
    X(MODEL_MISMATCH)                                                                              \
    X(SECURITY_VERSION_ROLLBACK)                                                                   \
    X(ENVELOPE_MALFORMED)                                                                          \
    X(ENVELOPE_WRONG_RECIPIENT)                                                                    \
    X(ENVELOPE_WRONG_IMAGE)                                                                        \
    X(ENVELOPE_OPEN_FAILED)                                                                        \
    X(ENVELOPE_REQUIRED)                                                                           \
    X(KEY_INVALID)                                                                                 \
    X(STAGING_INVALID)                                                                             \
    X(STAGING_MISMATCH)                                                                            \
    X(VERSION_ROLLBACK)                                                                            \
    X(SECURE_ELEMENT_DAMAGED)                                                                      \
    X(SLOT_NOT_INTACT)                                                                             \
    X(TRIAL_NOT_CONFIRMED)                                                                         \
    X(BACKUP_DAMAGED)                                                                              \
    X(BOOT_STATE_CORRUPT)                                                                          \
    X(FLASH_FAULT)                                                                                 \
    X(INTERNAL)

#define SIHL_REASON_ENUM(name) SIHL_##name,
typedef enum sihl_reason { SIHL_REASONS(SIHL_REASON_ENUM) SIHL_REASON_COUNT } sihl_reason;
#undef SIHL_REASON_ENUM

/* "SIGNATURE_THRESHOLD" for SIHL_SIGNATURE_THRESHOLD; "OK" for SIHL_OK. */
const char *sihl_reason_name(sihl_reason reason);

/* Random access to an image's bytes (a staging slot, a file). Returns 0 on success. */
struct sihl_reader {
    void *ctx;
    uint64_t size;
    int (*read)(void *ctx, uint64_t offset, uint8_t *out, size_t length);
};

/* Receives the firmware in order. Returns 0 on success. */
struct sihl_writer {
    void *ctx;
    int (*write)(void *ctx, const uint8_t *data, size_t length);
};

enum sihl_compression { SIHL_COMPRESSION_NONE = 0, SIHL_COMPRESSION_BROTLI = 1, SIHL_COMPRESSION_LZMA2 = 2 };
enum sihl_filter { SIHL_FILTER_NONE = 0, SIHL_FILTER_THUMB = 1, SIHL_FILTER_ARM = 2 };
enum sihl_encryption { SIHL_ENCRYPTION_NONE = 0, SIHL_ENCRYPTION_SECRETSTREAM = 1 };

#define SIHL_MANIFEST_MAX 4096u
#define SIHL_ENVELOPE_BYTES 184u

/* What a verified image says (FORMAT.md §Manifest), and where its parts are. */
struct sihl_image {
    uint32_t manifest_length, delegation_length, signature_block_length, root_chain_length;
    uint64_t payload_offset, payload_length;
    char model[65];
    char version[65];
    uint32_t security_version;
    uint8_t release_id[16];
    uint64_t created;
    uint64_t plaintext_size;
    uint8_t plaintext_digest[32];
    uint8_t compression, window_log, filter;
    uint64_t compressed_size;
    uint8_t encryption;
    uint8_t stream_header[24];
    uint32_t chunk_size;
    uint64_t payload_size;
    uint32_t flags;               /* bit 0: signed as a downgrade (docs/BOOT.md) */
    uint8_t payload_digest[32];   /* the head of the chunk chain: SHA-256 of the first stored chunk */
    uint8_t binding[32];          /* FORMAT.md §Stream binding */
    uint32_t delegation_version;
    struct sihl_keyset root;      /* the root the chain led to (the pinned one when there is no chain) */
};

/* What the device expects of an image; model NULL skips the model check. defer_payload 1 leaves
 * FORMAT.md §Verification step 6 (the chunk chain) to sihl_unpack, which authenticates every stored
 * chunk as it reads it: for a caller that unpacks right away. */
struct sihl_expect {
    const char *model;
    uint32_t min_security_version;
    int defer_payload;
};

/* All the working memory of the core: put it in .bss or on a large enough stack. */
struct sihl_work {
    uint8_t message[32 + SIHL_MANIFEST_MAX];  /* "sihl/v1/image\0" || manifest, kept until unpacked */
    uint8_t body[32 + 8 + 32 * SIHL_KEYS_MAX]; /* domain prefix || a delegation or root statement body */
    struct sihl_keyset keys[3];               /* current root, next root, delegation */
    uint8_t out[4096];                        /* decompressed bytes on their way to the writer */
    uint8_t cipher[SIHL_CHUNK_MAX + 17 + 32]; /* one stored chunk: a piece and its link */
    uint8_t plain[SIHL_CHUNK_MAX];
    uint8_t decoder[SIHL_DECODER_BYTES];      /* LZMA2 dictionary and state, or Brotli's arena */
};

/* FORMAT.md §Verification, steps 1 to 6 (6 unless expect->defer_payload). On SIHL_OK, *out describes the image; nothing of the
 * payload has been decrypted or decompressed. */
sihl_reason sihl_verify(const struct sihl_reader *image, const struct sihl_trust *trust,
                        const struct sihl_expect *expect, struct sihl_work *work,
                        struct sihl_image *out);

/* FORMAT.md §Envelope: the content key inside a 184-byte envelope for a verified image. */
sihl_reason sihl_open_envelope(const uint8_t envelope[SIHL_ENVELOPE_BYTES], const struct sihl_image *image,
                               const struct sihl_secure_element *se, uint8_t key_out[32]);

/* FORMAT.md §Unpacking: decrypt (key NULL for a signed-only image), decompress, undo the branch
 * filter, check both digests and the size. What the writer received is garbage unless this returns
 * SIHL_OK. */
sihl_reason sihl_unpack(const struct sihl_reader *image, const struct sihl_image *verified,
                        const uint8_t *key, struct sihl_work *work, const struct sihl_writer *out);

/* crypto_box_seal_open for secure-element ports that hold the X25519 secret key themselves. */
int sihl_open_sealed_with_secret(const uint8_t *sealed, size_t sealed_len, const uint8_t pk[32],
                                 const uint8_t sk[32], uint8_t *out);

/* Everything a boot needs. */
struct sihl_device {
    const struct sihl_flash *flash;
    const struct sihl_secure_element *se;
    const struct sihl_platform *platform;
    struct sihl_region boot_state, executable, backup, staging; /* docs/BOOT.md §Layout */
    const char *model;
    struct sihl_work *work;
};

enum sihl_outcome {
    SIHL_BOOTED = 0,   /* the application starts */
    SIHL_REJECTED = 1, /* the application starts, and something was refused on the way (reason) */
    SIHL_REVERTED = 2, /* it starts on the firmware from before a trial that was not confirmed */
    SIHL_HALTED = 3    /* the slot is not what the boot state records: nothing starts */
};

struct sihl_boot_report {
    enum sihl_outcome outcome;
    sihl_reason reason;
    int installed;             /* a new image was installed during this boot */
    int trial;                 /* the running firmware is on trial: it must be confirmed before the next boot */
    uint32_t attempts;         /* installs begun for that image, this one included */
    uint64_t running_size;     /* the firmware in the executable slot */
    uint8_t running_digest[32];
    int intact;                /* the executable slot matches the digest recorded for it */
};

/* One boot (docs/BOOT.md version 2, core/boot.c): finishes what the boot state says is unfinished (an
 * install with its backup, a trial's revert, a confirmation's last steps, a refusal, a damaged state),
 * proves the executable slot and jumps unless halted. SIHL_OK with *report filled; SIHL_FLASH_FAULT or
 * SIHL_INTERNAL when it stopped (the next boot starts from the state the flash holds). One boot at a
 * time: the flow keeps two sectors of buffers and a boot-state record in static storage. */
sihl_reason sihl_boot(const struct sihl_device *device, struct sihl_boot_report *report);

#endif
