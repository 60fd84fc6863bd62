/* The host's flash port over a flash file held in memory; see flash_file.h. */
#include "flash_file.h"

#include <string.h>

static int inside(const struct flash_file *f, uint32_t offset, uint32_t length)
{
    return offset <= f->geometry.size && length <= f->geometry.size - offset;
}

static int overlaps(uint32_t offset, uint32_t length, struct sihl_region r)
{
    return (uint64_t)offset < (uint64_t)r.offset + r.size && (uint64_t)offset + length > r.offset;
}

static void put32(FILE *out, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fwrite(b, 1, 4, out);
}

static int file_read(void *ctx, uint32_t offset, uint8_t *out, uint32_t length)
{
    struct flash_file *f = ctx;
    if (!inside(f, offset, length)) return -1;
    memcpy(out, f->memory + offset, length);
    if (length == 0 || !overlaps(offset, length, f->staging)) return 0;
    f->staging_reads++;
    if (f->tamper_mode == TAMPER_NONE || f->staging_reads != f->tamper_read) return 0;
    const uint32_t at = f->tamper_where == TAMPER_FIRST ? 0 : f->tamper_where == TAMPER_LAST ? length - 1 : length >> 1;
    out[at] ^= 0x20;
    /* Permanently: the chip itself now holds the changed byte, for every later read. */
    if (f->tamper_mode == TAMPER_PERMANENT) f->memory[offset + at] = out[at];
    return 0;
}

static int file_program(void *ctx, uint32_t offset, const uint8_t *data, uint32_t length)
{
    struct flash_file *f = ctx;
    const uint32_t unit = f->geometry.write_size;
    if (!inside(f, offset, length) || offset % unit != 0 || length % unit != 0) return -1;
    for (uint32_t i = 0; i < length; i++)
        if ((f->memory[offset + i] & data[i]) != data[i]) return -1; /* a 0 bit would become 1 */
    memcpy(f->memory + offset, data, length);
    f->operations++;
    f->writes++;
    if (f->trace != NULL) {
        fputc('P', f->trace);
        put32(f->trace, offset);
        put32(f->trace, length);
        fwrite(data, 1, length, f->trace);
    }
    return 0;
}

static int file_erase(void *ctx, uint32_t offset)
{
    struct flash_file *f = ctx;
    const uint32_t sector = f->geometry.sector_size;
    if (!inside(f, offset, sector) || offset % sector != 0) return -1;
    /* The read just before the first erase of staging is the erase's own check that it is not erased. */
    if (!f->install_reads_known && overlaps(offset, 1, f->staging)) {
        f->install_reads = f->staging_reads - 1;
        f->install_reads_known = 1;
    }
    memset(f->memory + offset, 0xff, sector);
    f->operations++;
    f->erases++;
    if (f->trace != NULL) {
        fputc('E', f->trace);
        put32(f->trace, offset);
    }
    return 0;
}

void flash_file_port(struct flash_file *f, struct sihl_flash *port)
{
    *port = (struct sihl_flash){f->geometry, f, file_read, file_program, file_erase};
}
