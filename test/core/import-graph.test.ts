// Only src/core/crypto may reach cryptographic code (libsodium or Node's crypto), so every secret and
// every random byte goes through one reviewed folder.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const CRYPTO_DIR = 'src/core/crypto/';

const CRYPTO_MODULES = /^(?:sodium-native|node:crypto|crypto)(?:\/.*)?$/;

/** Static imports and re-exports, side-effect imports, dynamic imports and require calls. */
const SPECIFIER_PATTERNS = [
  /\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
];

/** The Web Crypto global reaches the same primitives without any import. */
const CRYPTO_GLOBAL = /\b(?:globalThis\.)?crypto\.(?:subtle|getRandomValues|randomUUID)\b/;

async function sourceFiles(): Promise<string[]> {
  const entries = await readdir(SRC, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

function specifiers(text: string): string[] {
  return SPECIFIER_PATTERNS.flatMap((pattern) =>
    [...text.matchAll(pattern)].map((match) => match[1] as string),
  );
}

const files = await sourceFiles();
const texts = new Map(
  await Promise.all(files.map(async (file) => [file, await readFile(join(ROOT, file), 'utf8')] as const)),
);

test('the walk finds the source files, and the crypto folder is where sodium-native is loaded', () => {
  assert.ok(files.includes('src/core/keys.ts'));
  assert.ok(files.includes('src/core/crypto/sodium.ts'));
  assert.ok(specifiers(texts.get('src/core/crypto/sodium.ts') ?? '').includes('sodium-native'));
  assert.ok(specifiers(texts.get('src/core/crypto/hash.ts') ?? '').includes('node:crypto'));
});

test('only files under src/core/crypto import sodium-native or node:crypto', () => {
  const violations: string[] = [];
  for (const [file, text] of texts) {
    if (file.startsWith(CRYPTO_DIR)) continue;
    for (const specifier of specifiers(text)) {
      if (CRYPTO_MODULES.test(specifier)) violations.push(`${file} imports '${specifier}'`);
    }
  }
  assert.deepEqual(violations, []);
});

test('no file outside src/core/crypto uses the Web Crypto global', () => {
  const violations = [...texts].filter(
    ([file, text]) => !file.startsWith(CRYPTO_DIR) && CRYPTO_GLOBAL.test(text),
  );
  assert.deepEqual(
    violations.map(([file]) => file),
    [],
  );
});
