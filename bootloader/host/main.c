/* sihl-host: the C core on a computer, for the differential tests (test/bootloader/c-host.test.ts).
 *   sihl-host [--defer-payload] --image F --trust F [--model M] [--envelope F --box-keys F] [--out F]
 *     --defer-payload: verification skips the chunk chain walk (FORMAT.md §Verification step 6) and
 *     unpacking authenticates each stored chunk alone, as a bootloader that unpacks right away does
 *   sihl-host --lzma-memory LOG   the LZMA2 decoder's RAM at a 2^LOG dictionary, and the work area's
 *   sihl-host --brotli-memory LOG F [ARENA]   decodes the raw Brotli stream in F (window at most 2^LOG)
 *     through the core's decoder, with the first ARENA bytes of the arena (all by default), and says the
 *     most arena bytes it held (docs/BOOTLOADER-C.md §Brotli)
 * --trust: u32 root version, u8 threshold, u8 key count, u16 0, the keys (32 bytes each),
 *          u32 delegation version, u32 security counter (all little-endian).
 * --box-keys: the device's X25519 public key then its secret key (64 bytes).
 * Prints one JSON line: the stage reached, the reason code, and what the verification found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_ports.h"
#include "internal.h"
#include "brotli.h"
#include "lzma.h"

static struct sihl_work work; /* .bss, as on a device */

static uint8_t box_keys[64];

static int box_public_key(void *ctx, uint8_t out[32])
{
    (void)ctx;
    memcpy(out, box_keys, 32);
    return 0;
}

static int open_sealed(void *ctx, const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
    (void)ctx;
    return sihl_open_sealed_with_secret(sealed, sealed_len, box_keys, box_keys + 32, out);
}

static long read_file(const char *path, uint8_t *out, size_t max)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) return -1;
    n = fread(out, 1, max, f);
    if (fgetc(f) != EOF) n = max + 1;
    fclose(f);
    return (long)n;
}

static int load_trust(const char *path, struct sihl_trust *t)
{
    uint8_t b[8 + 32 * SIHL_KEYS_MAX + 8];
    long n = read_file(path, b, sizeof b);
    if (n < 8 || b[5] > SIHL_KEYS_MAX || n != (long)(8 + 32 * b[5] + 8)) return -1;
    memset(t, 0, sizeof *t);
    t->root.version = sihl_le32(b);
    t->root.threshold = b[4];
    t->root.key_count = b[5];
    memcpy(t->root.keys, b + 8, 32u * b[5]);
    t->delegation_version = sihl_le32(b + 8 + 32 * b[5]);
    t->security_counter = sihl_le32(b + 12 + 32 * b[5]);
    return 0;
}

#if SIHL_BROTLI
/* --brotli-memory: a raw Brotli stream of at most 16 MiB through sihl_brotli_run, output discarded. */
static int brotli_memory(unsigned log, const char *path, size_t arena)
{
    static uint8_t stream[16u << 20];
    struct sihl_brotli z;
    unsigned long long total = 0;
    size_t at = 0, used, made;
    long n = read_file(path, stream, sizeof stream);
    sihl_reason r;
    if (n < 0) return 2;
    if (arena == 0 || arena > sizeof work.decoder) arena = sizeof work.decoder;
    r = sihl_brotli_begin(&z, work.decoder, arena, log);
    while (r == SIHL_OK && !z.ended) {
        r = sihl_brotli_run(&z, stream + at, (size_t)n - at, &used, work.out, sizeof work.out, &made);
        at += used;
        total += made;
        if (r == SIHL_OK && used == 0 && made == 0 && !z.ended) r = SIHL_DECOMPRESS_FAILED;
    }
    printf("{\"reason\":\"%s\",\"output\":%llu,\"arena\":%lu,\"held\":%lu,\"work\":%lu}\n", sihl_reason_name(r),
           total, (unsigned long)arena, (unsigned long)sihl_brotli_memory(), (unsigned long)sizeof work);
    return r == SIHL_OK ? 0 : 1;
}
#endif

/* The arena bytes the decoder held at most while unpacking (0 before it starts). */
static size_t decoder_memory;

static int done(const char *stage, sihl_reason r, const struct sihl_image *m)
{
    printf("{\"stage\":\"%s\",\"reason\":\"%s\"", stage, sihl_reason_name(r));
    if (decoder_memory > 0) printf(",\"decoderMemory\":%lu", (unsigned long)decoder_memory);
    if (m != NULL)
        printf(",\"rootVersion\":%lu,\"delegationVersion\":%lu,\"version\":\"%s\",\"plaintextSize\":%llu",
               (unsigned long)m->root.version, (unsigned long)m->delegation_version, m->version,
               (unsigned long long)m->plaintext_size);
    printf("}\n");
    return r == SIHL_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *image_path = NULL, *trust_path = NULL, *model = NULL, *envelope_path = NULL;
    const char *keys_path = NULL, *out_path = NULL;
    struct sihl_trust trust;
    struct sihl_expect expect;
    int defer_payload = 0;
    struct sihl_image m;
    struct sihl_reader image;
    struct sihl_writer writer;
    struct sihl_secure_element se;
    uint8_t envelope[SIHL_ENVELOPE_BYTES + 1], key[32];
    const uint8_t *key_used = NULL;
    FILE *out;
    sihl_reason r;
    int i;
    if (argc == 3 && strcmp(argv[1], "--lzma-memory") == 0) {
        struct sihl_lzma z;
        unsigned log = (unsigned)atoi(argv[2]);
        if (sihl_lzma_begin(&z, work.decoder, sizeof work.decoder, log) != SIHL_OK) return 2;
        printf("{\"dictionary\":%lu,\"decoder\":%lu,\"work\":%lu,\"chunkMax\":%lu}\n", 1ul << log,
               (unsigned long)sihl_lzma_memory(), (unsigned long)sizeof work, (unsigned long)SIHL_CHUNK_MAX);
        return 0;
    }
#if SIHL_BROTLI
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "--brotli-memory") == 0)
        return brotli_memory((unsigned)atoi(argv[2]), argv[3], argc == 5 ? (size_t)strtoul(argv[4], NULL, 10) : 0);
#endif
    for (i = 1; i < argc && strcmp(argv[i], "--defer-payload") == 0; i++) defer_payload = 1;
    for (; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--image") == 0) image_path = argv[i + 1];
        else if (strcmp(argv[i], "--trust") == 0) trust_path = argv[i + 1];
        else if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--envelope") == 0) envelope_path = argv[i + 1];
        else if (strcmp(argv[i], "--box-keys") == 0) keys_path = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0) out_path = argv[i + 1];
        else break;
    }
    if (i != argc || image_path == NULL || trust_path == NULL) {
        fprintf(stderr, "usage: sihl-host [--defer-payload] --image F --trust F [--model M] [--envelope F --box-keys F] "
                        "[--out F]\n");
        return 2;
    }
    if (load_trust(trust_path, &trust) != 0) {
        fprintf(stderr, "sihl-host: %s is not a trust file\n", trust_path);
        return 2;
    }
    if (sihl_file_reader(&image, image_path) != 0) {
        fprintf(stderr, "sihl-host: cannot read %s\n", image_path);
        return 2;
    }
    expect.model = model;
    expect.min_security_version = trust.security_counter;
    expect.defer_payload = defer_payload;
    r = sihl_verify(&image, &trust, &expect, &work, &m);
    if (r != SIHL_OK) return done("verify", r, NULL);
    if (m.encryption == SIHL_ENCRYPTION_SECRETSTREAM && envelope_path != NULL) {
        long n = read_file(envelope_path, envelope, sizeof envelope);
        if (keys_path == NULL || read_file(keys_path, box_keys, sizeof box_keys) != 64) {
            fprintf(stderr, "sihl-host: --box-keys needs 64 bytes\n");
            return 2;
        }
        se.ctx = NULL;
        se.trust = NULL;
        se.advance = NULL;
        se.box_public_key = box_public_key;
        se.open_sealed = open_sealed;
        if (n != SIHL_ENVELOPE_BYTES) return done("envelope", SIHL_ENVELOPE_MALFORMED, &m);
        r = sihl_open_envelope(envelope, &m, &se, key);
        if (r != SIHL_OK) return done("envelope", r, &m);
        key_used = key;
    }
    out = fopen(out_path != NULL ? out_path : "/dev/null", "wb");
    if (out == NULL) return 2;
    sihl_file_writer(&writer, out);
    r = sihl_unpack(&image, &m, key_used, &work, &writer);
    fclose(out);
    sihl_file_reader_close(&image);
    decoder_memory = m.compression == SIHL_COMPRESSION_LZMA2 ? sihl_lzma_memory() : 0;
#if SIHL_BROTLI
    if (m.compression == SIHL_COMPRESSION_BROTLI) decoder_memory = sihl_brotli_memory();
#endif
    return done("unpack", r, &m);
}
