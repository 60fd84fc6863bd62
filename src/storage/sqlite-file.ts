// Opening one of sihl's SQLite files (the registry, the log store, the console's index) the one way they
// share: a busy timeout, WAL so readers never block the writer, a durability level chosen per file, and a
// schema version checked before the schema is applied.
import { DatabaseSync } from 'node:sqlite';
import { naming, SihlError } from '../core/errors.ts';

export interface SqliteFile {
  /** What the file holds, for messages: "registry", "log store". */
  readonly what: string;
  /** Statements that create what is missing (CREATE … IF NOT EXISTS). */
  readonly schema: string;
  readonly version: number;
  /** FULL: a committed write survives a power cut. NORMAL: derived data, cheaper, rebuilt after one. */
  readonly synchronous: 'FULL' | 'NORMAL';
  /** Refuse a file on which WAL mode does not take (an in-memory database is let through). */
  readonly requireWal?: boolean;
  /**
   * For derived data: statements that drop the tables of any other schema version, so the file is
   * rebuilt. Without it, a newer version is refused and an older one is brought up by `upgrades`, then `schema`.
   */
  readonly dropOtherVersion?: string;
  /**
   * Statements that bring a file of schema version N (the key) to N + 1, each run in one transaction
   * with the new version number, so an interrupted upgrade is either done or not begun.
   */
  readonly upgrades?: Readonly<Record<number, string>>;
}

function upgrade(db: DatabaseSync, file: SqliteFile, from: number): void {
  for (let version = from; version > 0 && version < file.version; version++) {
    const statements = file.upgrades?.[version];
    if (statements === undefined) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(statements);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
}

/** Opens (creating if needed) the database at `path` as `file` says, and hands it to `use`. */
export function openSqliteFile<T>(path: string, file: SqliteFile, use: (db: DatabaseSync) => T): T {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    db.exec('PRAGMA busy_timeout = 5000');
    const mode = db.prepare('PRAGMA journal_mode = WAL').get();
    if (file.requireWal && path !== ':memory:' && mode?.journal_mode !== 'wal') {
      throw new SihlError('IO_ERROR', `the ${file.what} cannot use WAL mode (${String(mode?.journal_mode)})`);
    }
    db.exec(`PRAGMA synchronous = ${file.synchronous}`);
    const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
    if (file.dropOtherVersion !== undefined) {
      if (version !== 0 && version !== file.version) db.exec(file.dropOtherVersion);
    } else if (version > file.version) {
      throw new SihlError('USAGE', `${file.what} schema version ${version} is newer than this sihl's`);
    }
    if (file.dropOtherVersion === undefined) upgrade(db, file, version);
    db.exec(file.schema);
    // Only when it changes: writing it is a transaction, and with synchronous FULL an fsync on every open.
    if (version !== file.version) db.exec(`PRAGMA user_version = ${file.version}`);
    return use(db);
  } catch (error) {
    if (db?.isOpen) db.close();
    throw naming(path, error);
  }
}
