// "Third-party code is never committed": the C bootloader's libsodium, xz-embedded and Brotli sources
// come from Debian's source packages at build time (bootloader/scripts/fetch-sources.sh) into
// bootloader/.deps, which git ignores. No tracked file may be one of them, whatever its name.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPS = join(ROOT, 'bootloader', '.deps');
const tracked = existsSync(join(ROOT, '.git'))
  ? execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  : undefined;

/** C sources and headers below `dir`, recursively. */
function cFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.[ch]$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

const digest = (path: string) => toHex(sha256(readFileSync(path)));

test('no tracked file lies in bootloader/.deps or bootloader/build, or names a third-party author', {
  skip: tracked ? false : 'not a git checkout',
}, () => {
  const files = tracked ?? [];
  assert.deepEqual(
    files.filter((f) => /^bootloader\/(\.deps|build)\//.test(f)),
    [],
  );
  const authored = files.filter(
    (f) =>
      f.startsWith('bootloader/') &&
      /\.[ch]$/.test(f) &&
      /Frank Denis|Lasse Collin|Igor Pavlov|Google Inc\./.test(
        readFileSync(join(ROOT, f), 'utf8').slice(0, 4096),
      ),
  );
  assert.deepEqual(authored, [], 'files carrying a third-party copyright line');
});

test('no tracked file has the bytes of a fetched libsodium, xz-embedded or Brotli source', {
  skip: !tracked ? 'not a git checkout' : existsSync(DEPS) ? false : 'bootloader/.deps not fetched',
}, () => {
  const fetched = new Map(cFiles(DEPS).map((path) => [digest(path), path]));
  assert.ok(fetched.size > 100, `only ${fetched.size} fetched C files under bootloader/.deps`);
  const copies = (tracked ?? [])
    .filter((f) => /\.[ch]$/.test(f))
    .filter((f) => fetched.has(digest(join(ROOT, f))))
    .map((f) => `${f} = ${fetched.get(digest(join(ROOT, f)))}`);
  assert.deepEqual(copies, []);
});
