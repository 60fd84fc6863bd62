/* FORMAT.md §Branch filters, decoding direction, over a stream: `position` is the offset of data[0]
 * in the firmware. Returns how many leading bytes are final; the rest (at most 3) must be handed in
 * again, at the front of the next call. With `last`, everything is final. */
#include "internal.h"

size_t sihl_unfilter(uint8_t filter, uint8_t *b, size_t length, uint64_t position, int last)
{
    size_t i = 0;
    if (filter == SIHL_FILTER_THUMB) {
        while (i + 4 <= length) {
            if ((b[i + 1] & 0xF8) == 0xF0 && (b[i + 3] & 0xF8) == 0xF8) {
                uint32_t at = (uint32_t)(position + i + 4);
                uint32_t src = ((((uint32_t)b[i + 1] & 7u) << 19) | ((uint32_t)b[i] << 11) |
                                (((uint32_t)b[i + 3] & 7u) << 8) | b[i + 2])
                               << 1;
                uint32_t dest = ((src - at) >> 1) & 0x3FFFFFu;
                b[i + 1] = (uint8_t)(0xF0u | ((dest >> 19) & 7u));
                b[i] = (uint8_t)(dest >> 11);
                b[i + 3] = (uint8_t)(0xF8u | ((dest >> 8) & 7u));
                b[i + 2] = (uint8_t)dest;
                i += 4;
            } else {
                i += 2;
            }
        }
    } else if (filter == SIHL_FILTER_ARM) {
        while (i + 4 <= length) {
            if (b[i + 3] == 0xEB) {
                uint32_t at = (uint32_t)(position + i + 8);
                uint32_t src = (((uint32_t)b[i + 2] << 16) | ((uint32_t)b[i + 1] << 8) | b[i]) << 2;
                uint32_t dest = ((src - at) >> 2) & 0xFFFFFFu;
                b[i + 2] = (uint8_t)(dest >> 16);
                b[i + 1] = (uint8_t)(dest >> 8);
                b[i] = (uint8_t)dest;
            }
            i += 4;
        }
    } else {
        return length;
    }
    return last ? length : i;
}
