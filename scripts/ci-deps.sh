#!/usr/bin/env bash
# Debian packages the tests and the bench need beyond npm: nginx (the end-to-end update through nginx,
# test/e2e/update-over-nginx.test.ts), wrk (npm run bench) and softhsm2 (keys on a PKCS#11 token,
# test/core/token/pkcs11-signer.test.ts). Installs only what is missing.
set -euo pipefail
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/bin/wrk ] || missing+=(wrk)
[ -f /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi
