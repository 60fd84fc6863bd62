/* docs/BOOT.md §Install step 5, versions only rise: Semantic Versioning 2.0.0 (its §2, 9, 10 and the
 * precedence of §11), as src/core/format/semver.ts parses and orders it. */
#ifndef SIHL_SEMVER_H
#define SIHL_SEMVER_H

/* 1 when `next` may replace `running`: running does not parse (no floor), or next is signed as a downgrade,
 * or next parses and is above running by precedence; 0 otherwise. Both are NUL-terminated. */
int semver_rises(const char *running, const char *next, int downgrade);

#endif
