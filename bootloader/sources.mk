# The bootloader's sources, for every build (host, sanitizers, fuzzers, Cortex-M4). Include it with
# SIHL_DIR set to the bootloader folder. Third-party files come from .deps/ (scripts/fetch-sources.sh).
SIHL_DEPS ?= $(SIHL_DIR)/.deps
SODIUM_SRC := $(SIHL_DEPS)/libsodium/src/libsodium
XZ_SRC := $(SIHL_DEPS)/xz-embedded
BROTLI_SRC := $(SIHL_DEPS)/brotli/c

SIHL_CORE_SRCS := \
  $(SIHL_DIR)/core/reason.c \
  $(SIHL_DIR)/core/bytes.c \
  $(SIHL_DIR)/core/header.c \
  $(SIHL_DIR)/core/manifest.c \
  $(SIHL_DIR)/core/signatures.c \
  $(SIHL_DIR)/core/delegation.c \
  $(SIHL_DIR)/core/root_chain.c \
  $(SIHL_DIR)/core/chain.c \
  $(SIHL_DIR)/core/verify.c \
  $(SIHL_DIR)/core/envelope.c \
  $(SIHL_DIR)/core/filter.c \
  $(SIHL_DIR)/core/lzma.c \
  $(SIHL_DIR)/core/brotli.c \
  $(SIHL_DIR)/core/unpack.c \
  $(SIHL_DIR)/core/sealed.c \
  $(SIHL_DIR)/core/sodium_platform.c \
  $(SIHL_DIR)/core/record_log.c \
  $(SIHL_DIR)/core/boot_state.c \
  $(SIHL_DIR)/core/slot_io.c \
  $(SIHL_DIR)/core/semver.c \
  $(SIHL_DIR)/core/install.c \
  $(SIHL_DIR)/core/boot.c

# A secure element port over flash (docs/BOOT.md §Secure element), for boards whose element is simulated
# in the device's flash as `sihl sim device` lays it out: the host's sihl-boot and the Cortex-M4 board.
SIHL_PORT_SRCS := $(SIHL_DIR)/ports/flash_secure_element.c

# Only what the bootloader calls: Ed25519 verification and point checks, SHA-256 (and SHA-512 inside
# Ed25519), the sealed box (X25519, XSalsa20-Poly1305, BLAKE2b for its nonce) and secretstream
# (XChaCha20-Poly1305), HMAC-SHA-512-256 for the boot-state records' tags. Portable reference implementations; no sodium_init, no random source.
SODIUM_SRCS := \
  $(SODIUM_SRC)/crypto_sign/ed25519/ref10/open.c \
  $(SODIUM_SRC)/crypto_sign/ed25519/ref10/sign.c \
  $(SODIUM_SRC)/crypto_core/ed25519/ref10/ed25519_ref10.c \
  $(SODIUM_SRC)/crypto_core/ed25519/core_ed25519.c \
  $(SODIUM_SRC)/crypto_hash/sha512/cp/hash_sha512_cp.c \
  $(SODIUM_SRC)/crypto_hash/sha256/cp/hash_sha256_cp.c \
  $(SODIUM_SRC)/crypto_verify/sodium/verify.c \
  $(SODIUM_SRC)/crypto_box/crypto_box_seal.c \
  $(SODIUM_SRC)/crypto_box/crypto_box.c \
  $(SODIUM_SRC)/crypto_box/crypto_box_easy.c \
  $(SODIUM_SRC)/crypto_box/curve25519xsalsa20poly1305/box_curve25519xsalsa20poly1305.c \
  $(SODIUM_SRC)/crypto_secretbox/crypto_secretbox.c \
  $(SODIUM_SRC)/crypto_secretbox/crypto_secretbox_easy.c \
  $(SODIUM_SRC)/crypto_secretbox/xsalsa20poly1305/secretbox_xsalsa20poly1305.c \
  $(SODIUM_SRC)/crypto_scalarmult/curve25519/scalarmult_curve25519.c \
  $(SODIUM_SRC)/crypto_scalarmult/curve25519/ref10/x25519_ref10.c \
  $(SODIUM_SRC)/crypto_core/hsalsa20/ref2/core_hsalsa20_ref2.c \
  $(SODIUM_SRC)/crypto_core/hchacha20/core_hchacha20.c \
  $(SODIUM_SRC)/crypto_core/salsa/ref/core_salsa_ref.c \
  $(SODIUM_SRC)/crypto_stream/xsalsa20/stream_xsalsa20.c \
  $(SODIUM_SRC)/crypto_stream/salsa20/stream_salsa20.c \
  $(SODIUM_SRC)/crypto_stream/salsa20/ref/salsa20_ref.c \
  $(SODIUM_SRC)/crypto_stream/chacha20/stream_chacha20.c \
  $(SODIUM_SRC)/crypto_stream/chacha20/ref/chacha20_ref.c \
  $(SODIUM_SRC)/crypto_onetimeauth/poly1305/onetimeauth_poly1305.c \
  $(SODIUM_SRC)/crypto_onetimeauth/poly1305/donna/poly1305_donna.c \
  $(SODIUM_SRC)/crypto_generichash/crypto_generichash.c \
  $(SODIUM_SRC)/crypto_generichash/blake2b/ref/generichash_blake2b.c \
  $(SODIUM_SRC)/crypto_generichash/blake2b/ref/blake2b-ref.c \
  $(SODIUM_SRC)/crypto_generichash/blake2b/ref/blake2b-compress-ref.c \
  $(SODIUM_SRC)/crypto_secretstream/xchacha20poly1305/secretstream_xchacha20poly1305.c \
  $(SODIUM_SRC)/crypto_auth/crypto_auth.c \
  $(SODIUM_SRC)/crypto_auth/hmacsha512256/auth_hmacsha512256.c \
  $(SODIUM_SRC)/crypto_auth/hmacsha512/auth_hmacsha512.c \
  $(SODIUM_SRC)/sodium/utils.c

XZ_SRCS := $(XZ_SRC)/xz_dec_lzma2.c

# Brotli 1.0.9's decoder and the common parts it uses (the built-in dictionary, transforms, context
# tables), for builds with SIHL_BROTLI=1 (docs/BOOTLOADER-C.md §Brotli). Its two fallbacks to the heap
# (taken only without an allocator; sihl always gives one) are bound to core/brotli.c's functions that
# return nothing, so no object refers to malloc or free. BROTLI_BUILD_PORTABLE: loads through memcpy,
# never a misaligned pointer (UBSan; Cortex-M4 LDRD).
BROTLI_SRCS := \
  $(BROTLI_SRC)/dec/bit_reader.c \
  $(BROTLI_SRC)/dec/decode.c \
  $(BROTLI_SRC)/dec/huffman.c \
  $(BROTLI_SRC)/dec/state.c \
  $(BROTLI_SRC)/common/constants.c \
  $(BROTLI_SRC)/common/context.c \
  $(BROTLI_SRC)/common/dictionary.c \
  $(BROTLI_SRC)/common/platform.c \
  $(BROTLI_SRC)/common/transform.c
BROTLI_DEFINES := -DBROTLI_BUILD_PORTABLE -Dmalloc=sihl_brotli_no_heap -Dfree=sihl_brotli_no_heap_free

# version.h is made from version.h.in into the build folder (configure would do it).
SIHL_INCLUDES = -I$(SIHL_DIR)/include -I$(SIHL_DIR)/core -I$(SIHL_DIR)/core/lzma -I$(SIHL_DIR)/ports \
  -I$(SODIUM_SRC)/include -I$(SODIUM_SRC)/include/sodium -I$(XZ_SRC) -isystem $(BROTLI_SRC)/include
SODIUM_DEFINES := -DCONFIGURED=1 -DNATIVE_LITTLE_ENDIAN=1 -DSODIUM_STATIC=1 -DSIHL_SODIUM_MINIMAL=1
