/* The platform port: what the bootloader needs from the board besides flash and keys. */
#ifndef SIHL_PLATFORM_H
#define SIHL_PLATFORM_H

#include <stdint.h>

struct sihl_platform {
    void *ctx;
    /* Seconds since 1970-01-01T00:00:00Z for boot reports; 0 when the board has no clock. */
    uint64_t (*now)(void *ctx);
    /* Starts the application whose image begins at flash offset `offset`; does not return on a device
     * (a host build records it and returns). */
    void (*jump)(void *ctx, uint32_t offset);
    /* Resets the device; does not return on a device. */
    void (*reset)(void *ctx);
};

#endif
