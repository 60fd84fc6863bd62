// The bad-input bench: a SHA-256 of every file under a folder, so a test can show that a refused input
// left every file as it was (nothing half-written, no temporary file left behind).
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sha256 } from '../../src/core/crypto/hash.ts';
import { toHex } from '../../src/core/format/bytes.ts';

/** Relative path → SHA-256 (hex) of every regular file under `dir`. */
export async function fileHashes(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (/\.db-(wal|shm)$/.test(entry.name)) continue;
      else if (entry.name.endsWith('.db')) hashes.set(relative(dir, path), databaseHash(path));
      else if (entry.isFile()) hashes.set(relative(dir, path), toHex(sha256(await readFile(path))));
    }
  };
  await walk(dir);
  return hashes;
}

/**
 * SQLite rewrites pages on open and checkpoint without changing a row, so a database is compared by
 * its content: every row of every table, in rowid order.
 */
function databaseHash(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => String(row.name));
    const dump = tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()]);
    return toHex(
      sha256(
        new TextEncoder().encode(JSON.stringify(dump, (_k, v) => (typeof v === 'bigint' ? String(v) : v))),
      ),
    );
  } finally {
    db.close();
  }
}

/** What changed between two hash maps: added, removed and altered paths, sorted. */
export function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [path, hash] of after) {
    if (!before.has(path)) out.push(`+ ${path}`);
    else if (before.get(path) !== hash) out.push(`~ ${path}`);
  }
  for (const path of before.keys()) if (!after.has(path)) out.push(`- ${path}`);
  return out.sort();
}
