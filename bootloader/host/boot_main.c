/* sihl-boot: one power-on of a simulated device with the C bootloader (`sihl sim device boot
 * --bootloader c`, test/bootloader/c-boot.test.ts). The core's sihl_boot over the host's flash port (the
 * device's flash.bin in memory), the flash secure element port and a platform that records the jump.
 *   sihl-boot flash=IN out=OUT sector=N write=N boot-state=OFF:SIZE secure-element=OFF:SIZE
 *             executable=OFF:SIZE backup=OFF:SIZE staging=OFF:SIZE [model=NAME] [trace=FILE]
 *             [tamper=K:once|permanent:first|middle|last]
 * The regions are device.json's layout. OUT receives the flash as the boot left it; trace=FILE every
 * erase and write in order (flash_file.h); tamper= changes the K-th read of staging. Prints one JSON
 * line. Exit status: 0 when the boot ran to its end (the outcome is in the line), 1 when it stopped on
 * a flash fault or an internal error (the flash keeps what was written), 2 on bad arguments or files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash_file.h"
#include "flash_secure_element.h"
#include "sihl/sihl.h"

static struct sihl_work work; /* .bss, as on a device */

static const char *arg(int argc, char **argv, const char *name)
{
    const size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    return NULL;
}

static int number(const char *s, uint32_t *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9') return -1;
    const unsigned long long v = strtoull(s, &end, 10);
    if (v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return *end == '\0' ? 0 : -1;
}

static int region(const char *s, const struct sihl_flash_geometry *g, struct sihl_region *r)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9') return -1;
    const unsigned long long offset = strtoull(s, &end, 10);
    if (*end != ':' || end[1] < '0' || end[1] > '9') return -1;
    const unsigned long long size = strtoull(end + 1, &end, 10);
    if (*end != '\0' || size == 0 || offset + size > g->size) return -1;
    if (offset % g->sector_size != 0 || size % g->sector_size != 0) return -1;
    *r = (struct sihl_region){(uint32_t)offset, (uint32_t)size};
    return 0;
}

static int tamper(const char *s, struct flash_file *f)
{
    char mode[16], where[16];
    unsigned long k = 0;
    if (s == NULL) return 0;
    if (sscanf(s, "%lu:%15[a-z]:%15[a-z]", &k, mode, where) != 3 || k == 0 || k > UINT32_MAX) return -1;
    f->tamper_read = (uint32_t)k;
    f->tamper_mode = strcmp(mode, "once") == 0 ? TAMPER_ONCE : strcmp(mode, "permanent") == 0 ? TAMPER_PERMANENT : TAMPER_NONE;
    f->tamper_where = strcmp(where, "first") == 0 ? TAMPER_FIRST : strcmp(where, "last") == 0 ? TAMPER_LAST : TAMPER_MIDDLE;
    return f->tamper_mode == TAMPER_NONE || (strcmp(where, "middle") != 0 && f->tamper_where == TAMPER_MIDDLE) ? -1 : 0;
}

static int usage(const char *why)
{
    fprintf(stderr, "sihl-boot: %s\n", why);
    return 2;
}

static uint64_t no_clock(void *ctx)
{
    (void)ctx;
    return 0;
}

static uint32_t jumped_to = UINT32_MAX;

static void jump(void *ctx, uint32_t offset)
{
    (void)ctx;
    jumped_to = offset;
}

static void reset(void *ctx) { (void)ctx; }

static uint8_t *load(const char *path, uint32_t size)
{
    FILE *in = fopen(path, "rb");
    uint8_t *memory = malloc(size ? size : 1);
    size_t n = 0;
    if (in != NULL && memory != NULL) {
        n = fread(memory, 1, size, in);
        if (fgetc(in) != EOF) n = 0;
    }
    if (in != NULL) fclose(in);
    if (n != size) {
        free(memory);
        return NULL;
    }
    return memory;
}

static void print_report(sihl_reason result, const struct sihl_boot_report *r, const struct flash_file *f)
{
    static const char *const outcomes[] = {"booted", "rejected", "reverted", "halted"};
    printf("{\"result\":\"%s\"", sihl_reason_name(result));
    if (result == SIHL_OK) {
        printf(",\"outcome\":\"%s\",\"reason\":\"%s\",\"installed\":%s,\"trial\":%s,\"attempts\":%u",
               outcomes[(unsigned)r->outcome & 3u], sihl_reason_name(r->reason), r->installed ? "true" : "false",
               r->trial ? "true" : "false", (unsigned)r->attempts);
        printf(",\"intact\":%s,\"runningSize\":%llu,\"sha256\":\"", r->intact ? "true" : "false",
               (unsigned long long)r->running_size);
        for (int i = 0; i < 32; i++) printf("%02x", r->running_digest[i]);
        printf("\",\"jumped\":%s", jumped_to == UINT32_MAX ? "false" : "true");
    }
    printf(",\"operations\":%u,\"writes\":%u,\"erases\":%u,\"stagingReads\":%u", (unsigned)f->operations,
           (unsigned)f->writes, (unsigned)f->erases, (unsigned)f->staging_reads);
    if (f->install_reads_known) printf(",\"installReads\":%u", (unsigned)f->install_reads);
    printf("}\n");
}

int main(int argc, char **argv)
{
    static struct flash_file f;
    static struct flash_secure_element se_state;
    struct sihl_flash flash;
    struct sihl_secure_element se;
    struct sihl_region boot_state, secure_element, executable, backup, staging;
    const char *in = arg(argc, argv, "flash"), *out = arg(argc, argv, "out"), *trace = arg(argc, argv, "trace");
    const char *model = arg(argc, argv, "model");
    if (in == NULL || out == NULL) return usage("flash= and out= are required");
    if (number(arg(argc, argv, "sector"), &f.geometry.sector_size) != 0 ||
        number(arg(argc, argv, "write"), &f.geometry.write_size) != 0)
        return usage("sector= and write= take a number of bytes");
    FILE *probe = fopen(in, "rb");
    if (probe == NULL || fseek(probe, 0, SEEK_END) != 0) return usage("cannot read the flash file");
    const long size = ftell(probe);
    fclose(probe);
    f.geometry.size = size > 0 && size <= (long)UINT32_MAX ? (uint32_t)size : 0;
    const struct sihl_flash_geometry *g = &f.geometry;
    if (g->size == 0 || g->write_size == 0 || g->sector_size < g->write_size || g->sector_size % g->write_size != 0 ||
        g->size % g->sector_size != 0)
        return usage("the flash file does not match sector= and write=");
    if (region(arg(argc, argv, "boot-state"), g, &boot_state) != 0 ||
        region(arg(argc, argv, "secure-element"), g, &secure_element) != 0 ||
        region(arg(argc, argv, "executable"), g, &executable) != 0 || region(arg(argc, argv, "backup"), g, &backup) != 0 ||
        region(arg(argc, argv, "staging"), g, &staging) != 0)
        return usage("boot-state=, secure-element=, executable=, backup= and staging= take OFFSET:SIZE in whole sectors");
    if (tamper(arg(argc, argv, "tamper"), &f) != 0) return usage("tamper= takes K:once|permanent:first|middle|last");
    f.staging = staging;
    if ((f.memory = load(in, g->size)) == NULL) return usage("cannot read the flash file");
    if (trace != NULL && (f.trace = fopen(trace, "wb")) == NULL) return usage("cannot write the trace file");
    flash_file_port(&f, &flash);
    if (flash_secure_element_open(&se_state, &flash, secure_element.offset, &se) != 0)
        return usage("the secure element's region is damaged (or its sector is above 4096 bytes)");
    const struct sihl_platform platform = {NULL, no_clock, jump, reset};
    const struct sihl_device device = {&flash, &se, &platform, boot_state, executable, backup, staging,
                                       model != NULL && model[0] ? model : NULL, &work};
    struct sihl_boot_report report;
    memset(&report, 0, sizeof report);
    const sihl_reason result = sihl_boot(&device, &report);
    FILE *o = fopen(out, "wb");
    const int saved = o != NULL && fwrite(f.memory, 1, g->size, o) == g->size;
    if (o != NULL && fclose(o) != 0) return usage("cannot write the output flash file");
    if (!saved) return usage("cannot write the output flash file");
    if (f.trace != NULL && fclose(f.trace) != 0) return usage("cannot write the trace file");
    free(f.memory);
    print_report(result, &report, &f);
    return result == SIHL_OK ? 0 : 1;
}
