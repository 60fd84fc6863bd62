/* libFuzzer: docs/BOOT.md §Record log and §Boot state: the input is a boot-state area (two 4 KiB
 * sectors; a shorter input is padded with erased bytes) read as the boot flow reads it: every slot
 * classified, the newest valid record's body decoded. The tag check accepts every tag (the parser is
 * under test, not HMAC). When a state decodes, it is appended again (the append path, compaction
 * included), and written into an erased area and read back: the state read must be the state written. */
#include <stdlib.h>

#include "boot.h"
#include "common.h"

#define SECTOR 4096u
static uint8_t area[2 * SECTOR];

static int area_read(void *ctx, uint32_t offset, uint8_t *out, uint32_t length)
{
    (void)ctx;
    if (offset > sizeof area || length > sizeof area - offset) return -1;
    memcpy(out, area + offset, length);
    return 0;
}

static int area_program(void *ctx, uint32_t offset, const uint8_t *data, uint32_t length)
{
    (void)ctx;
    if (offset > sizeof area || length > sizeof area - offset || offset % 8 != 0 || length % 8 != 0) return -1;
    for (uint32_t i = 0; i < length; i++) area[offset + i] &= data[i];
    return 0;
}

static int area_erase(void *ctx, uint32_t offset)
{
    (void)ctx;
    if (offset % SECTOR != 0 || offset >= sizeof area) return -1;
    memset(area + offset, 0xff, SECTOR);
    return 0;
}

static int tag_record(void *ctx, const uint8_t *message, size_t length, uint8_t tag[32])
{
    (void)ctx;
    (void)message;
    (void)length;
    memset(tag, 0x5a, 32);
    return 0;
}

static int check_record(void *ctx, const uint8_t *message, size_t length, const uint8_t tag[32])
{
    (void)ctx;
    (void)message;
    (void)length;
    (void)tag;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct boot_state state, again;
    static const struct sihl_flash flash = {{2 * SECTOR, SECTOR, 8}, 0, area_read, area_program, area_erase};
    struct sihl_secure_element se;
    memset(&se, 0, sizeof se);
    se.tag_record = tag_record;
    se.check_record = check_record;
    struct sihl_device device;
    memset(&device, 0, sizeof device);
    device.flash = &flash;
    device.se = &se;
    device.boot_state = (struct sihl_region){0, 2 * SECTOR};
    struct sihl_boot_report report;
    struct boot b = {&device, {0, 0, 0, 0, 0}, &report};
    memset(area, 0xff, sizeof area);
    memcpy(area, data, size < sizeof area ? size : sizeof area);
    boot_log_open(&b);
    if (state_read(&b, &state) != 1) return 0;
    (void)state_write(&b, &state); /* the append path over whatever the area holds */
    /* Encoding and decoding agree: the state written into an erased area is the state read back (not
     * checked in the fuzzed area, whose records may be half the sequence circle apart, which §Record
     * log rules out for a log its own device wrote). */
    memset(area, 0xff, sizeof area);
    if (state_write(&b, &state) != SIHL_OK || state_read(&b, &again) != 1) abort();
    if (memcmp(&state, &again, sizeof state) != 0) abort();
    return 0;
}
