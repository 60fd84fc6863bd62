#!/usr/bin/env bash
# Installs what the Cortex-M4 build and its QEMU tests need, from Debian, when missing:
# the cross compiler, newlib for it, and qemu-system-arm (mps2-an386). Idempotent.
set -euo pipefail
need=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v make >/dev/null 2>&1 || need+=(make)
[ ${#need[@]} -eq 0 ] && exit 0
# shellcheck source=../../scripts/apt-install.sh
. "$(dirname "$0")/../../scripts/apt-install.sh"
apt_install "cortex-m4 deps" "${need[@]}"
