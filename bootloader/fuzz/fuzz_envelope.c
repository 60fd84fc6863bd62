/* libFuzzer: FORMAT.md §Envelope: 184 bytes against the device key of the vectors; the binding the
 * image would have is taken from bytes 40..72 half the time, so the sealed box gets opened. */
#include "common.h"

static const uint8_t device_pk[32] = {
    0xbd, 0x3c, 0x30, 0x29, 0xd2, 0xcd, 0x64, 0x6f, 0x36, 0x2e, 0x70, 0x85, 0x03, 0xc0, 0x6d, 0x20,
    0xf2, 0x52, 0xa9, 0x86, 0xed, 0x2d, 0x64, 0x5f, 0x80, 0x09, 0xd0, 0x2b, 0x03, 0xf6, 0x8e, 0x13};
static const uint8_t device_sk[32] = {
    0x69, 0x36, 0x13, 0x08, 0xe9, 0x38, 0x44, 0x41, 0x90, 0xb7, 0x0d, 0x72, 0x12, 0x44, 0x0b, 0x21,
    0x79, 0x9c, 0xca, 0x35, 0x61, 0xf8, 0xd5, 0x89, 0xa7, 0xaa, 0x32, 0xeb, 0x6d, 0x7c, 0x9a, 0x5c};

static int box_public_key(void *ctx, uint8_t out[32])
{
    (void)ctx;
    memcpy(out, device_pk, 32);
    return 0;
}

static int open_sealed(void *ctx, const uint8_t *sealed, size_t len, uint8_t *out)
{
    (void)ctx;
    return sihl_open_sealed_with_secret(sealed, len, device_pk, device_sk, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sihl_image image;
    struct sihl_secure_element se;
    uint8_t key[32];
    if (size != SIHL_ENVELOPE_BYTES + 1) return 0;
    memset(&image, 0, sizeof image);
    if (data[SIHL_ENVELOPE_BYTES] & 1) memcpy(image.binding, data + 40, 32);
    memset(&se, 0, sizeof se);
    se.box_public_key = box_public_key;
    se.open_sealed = open_sealed;
    (void)sihl_open_envelope(data, &image, &se, key);
    return 0;
}
