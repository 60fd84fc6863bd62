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

/** Relative imports of a file, resolved to repository paths. */
function localImports(file: string): string[] {
  const dir = file.slice(0, file.lastIndexOf('/'));
  return specifiers(texts.get(file) ?? '')
    .filter((s) => s.startsWith('.'))
    .map((s) => {
      const parts = `${dir}/${s}`.split('/');
      const out: string[] = [];
      for (const part of parts) {
        if (part === '..') out.pop();
        else if (part !== '.') out.push(part);
      }
      return out.join('/');
    });
}

function closure(start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...localImports(file));
  }
  return seen;
}

// DESIGN.md "partitioning, keep it simple": the bootloader is the small trusted part.
const BOOTLOADER_MAY_REACH = [
  /^src\/core\//,
  /^src\/device\/bootloader\//,
  /^src\/device\/flash\/(flash|record-log)\.ts$/,
  /^src\/device\/secure-element\/secure-element\.ts$/,
];

test('the bootloader reaches only src/core, the flash and secure-element ports, and its own files', () => {
  const reached = [...closure('src/device/bootloader/bootloader.ts')];
  assert.ok(reached.includes('src/core/image/verify.ts'), 'the walk follows imports');
  const outside = reached.filter((file) => !BOOTLOADER_MAY_REACH.some((allowed) => allowed.test(file)));
  assert.deepEqual(outside, []);
});

test('nothing the bootloader reaches touches files, the network or processes', () => {
  const forbidden = /^(?:node:)?(?:fs|fs\/promises|net|http|https|http2|dgram|child_process|worker_threads)$/;
  const found = [...closure('src/device/bootloader/bootloader.ts')].flatMap((file) =>
    specifiers(texts.get(file) ?? '')
      .filter((s) => forbidden.test(s))
      .map((s) => `${file} imports '${s}'`),
  );
  assert.deepEqual(found, []);
});

// DESIGN.md "parts and their boundaries": each part imports only its own files and the parts it stands on.
// Nothing reaches up; storage and the device never import each other.
const FLOORS: Record<string, readonly string[]> = {
  core: [],
  storage: ['core'],
  device: ['core'],
  publisher: ['core', 'storage'],
  server: ['core', 'storage', 'device', 'publisher'],
  cli: ['core', 'storage', 'device', 'publisher', 'server'],
};

function partOf(file: string): string | undefined {
  return /^src\/([^/]+)\//.exec(file)?.[1];
}

test('every file in src belongs to a part with a floor', () => {
  const homeless = files.filter((file) => !((partOf(file) ?? '') in FLOORS));
  assert.deepEqual(homeless, []);
});

test('no file in src imports a part above its own or beside it', () => {
  const violations = files.flatMap((file) => {
    const part = partOf(file) ?? '';
    const allowed = new Set([part, ...(FLOORS[part] ?? [])]);
    return localImports(file)
      .filter((target) => !allowed.has(partOf(target) ?? ''))
      .map((target) => `${file} → ${target}`);
  });
  assert.deepEqual(violations, []);
});

test('the floor check sees an upward import', () => {
  const part = 'storage';
  const allowed = new Set([part, ...(FLOORS[part] ?? [])]);
  assert.equal(allowed.has(partOf('src/publisher/registry.ts') ?? ''), false);
  assert.equal(allowed.has(partOf('src/core/fs.ts') ?? ''), true);
});

// The update agent runs in a device's firmware: core, tuf-js, its own files, the device ports it drives
// and the device's report signer. Never the publisher's side, storage, the server or the CLI.
const AGENT_MAY_REACH = [
  /^src\/core\//,
  /^src\/device\/agent\//,
  /^src\/device\/report\.ts$/,
  /^src\/device\/flash\/flash\.ts$/,
  /^src\/device\/secure-element\/secure-element\.ts$/,
];

test('the update agent reaches only src/core, its own files, the device ports and the report signer', () => {
  const reached = [...closure('src/device/agent/index.ts')];
  assert.ok(reached.includes('src/device/agent/agent.ts'), 'the walk follows imports');
  const outside = reached.filter((file) => !AGENT_MAY_REACH.some((allowed) => allowed.test(file)));
  assert.deepEqual(outside, []);
});

test('nothing on a device listens: no server sockets in src/device', () => {
  const listening = /\b(?:createServer|createSecureServer|createSocket)\s*\(|\.listen\s*\(/;
  const found = [...texts].filter(([file, text]) => file.startsWith('src/device/') && listening.test(text));
  assert.deepEqual(
    found.map(([file]) => file),
    [],
  );
});
