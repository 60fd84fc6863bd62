#ifndef SIHL_FILE_PORTS_H
#define SIHL_FILE_PORTS_H
#include <stdio.h>

#include "sihl/sihl.h"

int sihl_file_reader(struct sihl_reader *reader, const char *path);
void sihl_file_reader_close(struct sihl_reader *reader);
void sihl_file_writer(struct sihl_writer *writer, FILE *f);
#endif
