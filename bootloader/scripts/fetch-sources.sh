#!/usr/bin/env bash
# Fetches the third-party C sources the bootloader compiles (libsodium 1.0.18, xz-embedded from
# busybox and Brotli 1.0.9's decoder) from Debian's source packages into bootloader/.deps/, and installs the Debian build tools
# it needs when missing. Idempotent: a second run with everything in place changes nothing.
# The machine's own apt configuration is left alone: apt reads a private deb-src list and private
# package lists under .deps/apt/. apt checks every file it downloads against the hashes of Debian's
# signed Sources index (the .dsc and the tarballs alike).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
deps="$here/.deps"
mkdir -p "$deps"

need_tools=()
command -v cc >/dev/null 2>&1 || need_tools+=(gcc)
command -v make >/dev/null 2>&1 || need_tools+=(make)
command -v dpkg-source >/dev/null 2>&1 || need_tools+=(dpkg-dev)
if [ "${SIHL_FUZZ_TOOLS:-1}" = 1 ]; then
  # clang and its sanitizer and libFuzzer runtimes (a separate package in Debian 12)
  if ! command -v clang >/dev/null 2>&1; then
    need_tools+=(clang libclang-rt-dev)
  elif [ ! -f "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ] && [ "$(uname -m)" = x86_64 ]; then
    need_tools+=("libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev")
  fi
fi
# shellcheck source=apt-install.sh
. "$here/scripts/apt-install.sh"
[ ${#need_tools[@]} -eq 0 ] || apt_install fetch-sources "${need_tools[@]}"

sodium_dir="$deps/libsodium"
xz_dir="$deps/xz-embedded"
brotli_dir="$deps/brotli"
if [ -f "$sodium_dir/src/libsodium/include/sodium.h" ] && [ -f "$xz_dir/xz_dec_lzma2.c" ] \
  && [ -f "$brotli_dir/c/dec/decode.c" ]; then
  exit 0
fi

# Mirror: the one this machine's apt already uses for bookworm, else Debian's own.
mirror="$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -v security | head -1 | tr -d ' ' || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
apt_dir="$deps/apt"
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/src"
cat >"$apt_dir/sources.list.d/sihl-src.sources" <<SRC
Types: deb-src
URIs: ${mirror%/}
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d" -o Dir::Etc::SourceList=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -q >/dev/null
cd "$apt_dir/src"
# apt-get source checks each downloaded file against the signed Sources index.
[ -n "$(ls libsodium_1.0.18-*.dsc 2>/dev/null)" ] || apt-get "${apt_opts[@]}" source --download-only -q libsodium >/dev/null
[ -n "$(ls busybox_*.dsc 2>/dev/null)" ] || apt-get "${apt_opts[@]}" source --download-only -q busybox >/dev/null
[ -n "$(ls brotli_1.0.9-*.dsc 2>/dev/null)" ] || apt-get "${apt_opts[@]}" source --download-only -q brotli >/dev/null

if [ ! -f "$sodium_dir/src/libsodium/include/sodium.h" ]; then
  rm -rf "$sodium_dir" "$apt_dir/src/libsodium-1.0.18"
  dpkg-source --no-check -x libsodium_1.0.18-*.dsc libsodium-1.0.18 >/dev/null
  mv libsodium-1.0.18 "$sodium_dir"
fi
if [ ! -f "$xz_dir/xz_dec_lzma2.c" ]; then
  rm -rf "$xz_dir" bb
  dsc="$(ls busybox_*.dsc | head -1)"
  dpkg-source --no-check -x "$dsc" bb >/dev/null
  mkdir -p "$xz_dir"
  # xz_config.h stays behind: the bootloader brings its own (no malloc, ARM-Thumb BCJ on).
  for f in xz.h xz_private.h xz_lzma2.h xz_stream.h xz_dec_lzma2.c xz_dec_bcj.c; do
    cp "bb/archival/libarchive/unxz/$f" "$xz_dir/"
  done
  rm -rf bb
fi
if [ ! -f "$brotli_dir/c/dec/decode.c" ]; then
  rm -rf "$brotli_dir" "$apt_dir/src/brotli-1.0.9"
  dpkg-source --no-check -x brotli_1.0.9-*.dsc brotli-1.0.9 >/dev/null
  # Only the decoder and what it includes (c/dec, c/common, c/include) is kept.
  mkdir -p "$brotli_dir/c"
  for d in dec common include; do mv "brotli-1.0.9/c/$d" "$brotli_dir/c/"; done
  mv brotli-1.0.9/LICENSE "$brotli_dir/"
  rm -rf brotli-1.0.9
fi
for f in "$sodium_dir/src/libsodium/include/sodium.h" "$xz_dir/xz_dec_lzma2.c" "$xz_dir/xz_dec_bcj.c" \
  "$brotli_dir/c/dec/decode.c"; do
  [ -f "$f" ] || { echo "fetch-sources: $f missing after fetch" >&2; exit 1; }
done
echo "fetch-sources: libsodium, xz-embedded and brotli in $deps"
