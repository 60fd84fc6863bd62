#!/usr/bin/env bash
# Builds every C program the tests use, ahead of `npm test` (which otherwise makes each on first use):
# the host tool and boot program (plain and under AddressSanitizer and UndefinedBehaviorSanitizer), the
# libFuzzer harnesses when clang is there, and the Cortex-M4 programs when arm-none-eabi-gcc is there.
# Fetches the third-party sources first (fetch-sources.sh). A second run with nothing changed does nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/fetch-sources.sh"
jobs="-j$(nproc 2>/dev/null || echo 2)"
make -s -C "$here" "$jobs" VARIANT=host host
make -s -C "$here" "$jobs" VARIANT=asan host
if command -v clang >/dev/null 2>&1; then
  make -s -C "$here" "$jobs" fuzz
else
  echo "build-all: no clang, the fuzz harnesses are left to npm run fuzz:c" >&2
fi
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  make -s -C "$here/targets/cortex-m4" "$jobs" boot install-bench nor-check se-check
else
  echo "build-all: no arm-none-eabi-gcc, the Cortex-M4 programs are not built" >&2
fi
