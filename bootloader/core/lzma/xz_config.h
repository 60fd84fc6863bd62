/* xz-embedded's configuration for the bootloader: no malloc (allocations come from the work area
 * through sihl_xz_alloc), only the LZMA2 decoder in multi-call mode with a preallocated dictionary. */
#ifndef XZ_CONFIG_H
#define XZ_CONFIG_H

#define XZ_DEC_PREALLOC

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "xz.h"

void *sihl_xz_alloc(size_t size);

#ifndef NOINLINE
#ifdef __GNUC__
#define NOINLINE __attribute__((__noinline__))
#else
#define NOINLINE
#endif
#endif

#define kmalloc(size, flags) sihl_xz_alloc(size)
#define kfree(ptr) ((void)(ptr))
#define vmalloc(size) sihl_xz_alloc(size)
#define vfree(ptr) ((void)(ptr))

#define memeq(a, b, size) (memcmp(a, b, size) == 0)
#define memzero(buf, size) memset(buf, 0, size)

#undef min
#undef min_t
#define min(x, y) ((x) < (y) ? (x) : (y))
#define min_t(type, x, y) min(x, y)

#ifndef __always_inline
#ifdef __GNUC__
#define __always_inline inline __attribute__((__always_inline__))
#else
#define __always_inline inline
#endif
#endif

#ifndef noinline_for_stack
#ifdef __GNUC__
#define noinline_for_stack __attribute__((__noinline__))
#else
#define noinline_for_stack
#endif
#endif

static inline uint32_t get_unaligned_le32(const uint8_t *buf)
{
    return (uint32_t)buf[0] | ((uint32_t)buf[1] << 8) | ((uint32_t)buf[2] << 16) | ((uint32_t)buf[3] << 24);
}
static inline uint32_t get_unaligned_be32(const uint8_t *buf)
{
    return ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) | (uint32_t)buf[3];
}
static inline void put_unaligned_le32(uint32_t val, uint8_t *buf)
{
    buf[0] = (uint8_t)val;
    buf[1] = (uint8_t)(val >> 8);
    buf[2] = (uint8_t)(val >> 16);
    buf[3] = (uint8_t)(val >> 24);
}
static inline void put_unaligned_be32(uint32_t val, uint8_t *buf)
{
    buf[0] = (uint8_t)(val >> 24);
    buf[1] = (uint8_t)(val >> 16);
    buf[2] = (uint8_t)(val >> 8);
    buf[3] = (uint8_t)val;
}
#define get_le32 get_unaligned_le32

#endif
