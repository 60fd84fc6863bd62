#!/usr/bin/env bash
# Debian packages the tests and the bench need beyond npm: nginx (the end-to-end update through nginx,
# test/e2e/update-over-nginx.test.ts) and wrk (npm run bench). Installs only what is missing.
set -euo pipefail
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/bin/wrk ] || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q "${missing[@]}"
fi
