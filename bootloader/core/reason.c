/* Reason codes as text: the names of FORMAT.md §Error codes, for reports and the host tool. */
#include "sihl/sihl.h"

#define SIHL_REASON_NAME(name) #name,
static const char *const names[SIHL_REASON_COUNT] = {SIHL_REASONS(SIHL_REASON_NAME)};

const char *sihl_reason_name(sihl_reason reason)
{
    if ((unsigned)reason >= (unsigned)SIHL_REASON_COUNT) return "INTERNAL";
    return names[reason];
}
