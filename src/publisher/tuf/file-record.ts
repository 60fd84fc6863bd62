// What publishing last knew of each published target file: its inode, size, and modification and change
// times when it was written, or last read and found to match its signed hashes. A file whose stat still
// says the same is taken as unchanged and not read again, so a publication costs the same with one image
// published or a hundred. Any write to the file moves its change time (even one that puts the
// modification time back), and a copy of the store moves its inode, so the file is read again. Damage
// that changes none of these (a failing disk) is not seen here; devices check every download against
// the signed hashes, and report it. Kept in the store's local folder under a hidden name, which is never
// served (src/server/request-path.ts, nginx) nor mirrored (src/storage/local-blob-store.ts).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, readSmallFile, writeFileAtomic } from '../../core/fs.ts';

export const FILE_RECORD = '.published-files.json';
const RECORD_BYTES = 16 * 1024 * 1024;

async function signature(full: string): Promise<string | undefined> {
  try {
    const s = await stat(full, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** An unreadable or malformed record is none: every carried file is read once, as before records. */
function parseRecord(bytes: Uint8Array): Map<string, string> {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { files?: unknown };
    const files = parsed.files;
    if (typeof files !== 'object' || files === null || Array.isArray(files)) return new Map();
    return new Map(Object.entries(files).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return new Map();
  }
}

export class FileRecord {
  readonly #dir: string;
  readonly #files: Map<string, string>;
  #changed = false;

  private constructor(dir: string, files: Map<string, string>) {
    this.#dir = dir;
    this.#files = files;
  }

  /** The record of the store folder `dir` (empty when there is none). */
  static async load(dir: string): Promise<FileRecord> {
    const path = join(dir, FILE_RECORD);
    if (!(await exists(path))) return new FileRecord(dir, new Map());
    const bytes = await readSmallFile(path, RECORD_BYTES).catch(() => new Uint8Array(0));
    return new FileRecord(dir, parseRecord(bytes));
  }

  /** Whether the file at `path` (relative to the store) is as it was when it was last noted. */
  async unchanged(path: string): Promise<boolean> {
    const noted = this.#files.get(path);
    return noted !== undefined && noted === (await signature(join(this.#dir, path)));
  }

  /** Notes the file at `path` as it is now: just written, or just read and found sound. */
  async note(path: string): Promise<void> {
    const now = await signature(join(this.#dir, path));
    if (now === undefined || this.#files.get(path) === now) return;
    this.#files.set(path, now);
    this.#changed = true;
  }

  /** Writes the record, keeping only the files in `keep` (those the new targets metadata names). */
  async save(keep: ReadonlySet<string>): Promise<void> {
    for (const path of this.#files.keys()) {
      if (keep.has(path)) continue;
      this.#files.delete(path);
      this.#changed = true;
    }
    if (!this.#changed) return;
    const files = Object.fromEntries([...this.#files].sort(([a], [b]) => (a < b ? -1 : 1)));
    await writeFileAtomic(join(this.#dir, FILE_RECORD), `${JSON.stringify({ version: 1, files })}\n`, {
      overwrite: true,
    });
    this.#changed = false;
  }
}
