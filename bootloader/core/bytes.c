/* Little-endian fields (FORMAT.md §Conventions) and the one checked way to read an image. */
#include "internal.h"

uint16_t sihl_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t sihl_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t sihl_le64(const uint8_t *p) { return (uint64_t)sihl_le32(p) | ((uint64_t)sihl_le32(p + 4) << 32); }

void sihl_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

sihl_reason sihl_read(const struct sihl_reader *image, uint64_t offset, uint8_t *out, size_t length)
{
    if (length == 0) return SIHL_OK;
    if (offset > image->size || length > image->size - offset) return SIHL_INTERNAL;
    return image->read(image->ctx, offset, out, length) == 0 ? SIHL_OK : SIHL_FLASH_FAULT;
}
