/* Host ports: an image read from a file (the staging slot of a host run). */
#define _POSIX_C_SOURCE 200809L
#include "file_ports.h"

#include <stdio.h>
#include <sys/types.h>

static int file_read(void *ctx, uint64_t offset, uint8_t *out, size_t length)
{
    FILE *f = (FILE *)ctx;
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) return -1;
    return fread(out, 1, length, f) == length ? 0 : -1;
}

int sihl_file_reader(struct sihl_reader *reader, const char *path)
{
    FILE *f = fopen(path, "rb");
    off_t size;
    if (f == NULL) return -1;
    if (fseeko(f, 0, SEEK_END) != 0 || (size = ftello(f)) < 0) {
        fclose(f);
        return -1;
    }
    reader->ctx = f;
    reader->size = (uint64_t)size;
    reader->read = file_read;
    return 0;
}

void sihl_file_reader_close(struct sihl_reader *reader)
{
    if (reader->ctx != NULL) fclose((FILE *)reader->ctx);
    reader->ctx = NULL;
}

static int file_write(void *ctx, const uint8_t *data, size_t length)
{
    return fwrite(data, 1, length, (FILE *)ctx) == length ? 0 : -1;
}

void sihl_file_writer(struct sihl_writer *writer, FILE *f)
{
    writer->ctx = f;
    writer->write = file_write;
}
