// The embedded log store: devices' signed status reports in one node:sqlite file (logs.db in the
// workspace by default), next to the registry. Entries are kept as they arrived; readers verify them.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { naming, SihlError } from '../core/errors.ts';
import type { LogEntry, LogQuery, LogStore } from './log-store.ts';
import { openSqliteFile } from './sqlite-file.ts';

export const LOG_STORE_FILE = 'logs.db';
/** Rows read per query while iterating, so memory holds one page whatever the history's length. */
const PAGE = 1_000;
const SCHEMA_VERSION = 1;
const DEVICE_ID = /^[0-9a-f]{64}$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  received INTEGER NOT NULL,
  report BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_device ON entries (device_id, received, n);
CREATE INDEX IF NOT EXISTS entries_received ON entries (received, n);
`;

function checkDeviceId(id: string): string {
  if (typeof id !== 'string' || !DEVICE_ID.test(id))
    throw new SihlError('USAGE', 'a device id is 64 lowercase hex digits');
  return id;
}

function millis(date: Date, what: string): number {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw new SihlError('USAGE', `${what} is not a valid time`);
  return ms;
}

class SqliteLogStore implements LogStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare('INSERT INTO entries (device_id, received, report) VALUES (?, ?, ?)');
  }

  async append(deviceId: string, entries: readonly { received: Date; report: Uint8Array }[]): Promise<void> {
    checkDeviceId(deviceId);
    const rows = entries.map((e) => {
      if (!(e.report instanceof Uint8Array)) throw new SihlError('USAGE', 'a log entry holds bytes');
      return [millis(e.received, 'received'), e.report] as const;
    });
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const [received, report] of rows) this.#insert.run(deviceId, received, report);
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw naming('log store', error);
    }
  }

  async *query(query: LogQuery = {}): AsyncIterable<LogEntry> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (query.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(checkDeviceId(query.deviceId));
    }
    if (query.since !== undefined) {
      where.push('received >= ?');
      params.push(millis(query.since, 'since'));
    }
    if (query.until !== undefined) {
      where.push('received < ?');
      params.push(millis(query.until, 'until'));
    }
    let left = query.limit ?? Number.POSITIVE_INFINITY;
    if (!(left >= 0)) throw new SihlError('USAGE', 'limit must be a whole number ≥ 0');
    // Keyset pagination: each page starts after the last (received, n) seen, so no read stays open
    // between pages and entries appended meanwhile are seen once, in order.
    const page = this.#db.prepare(
      `SELECT n, device_id, received, report FROM entries
       WHERE ${[...where, '(received > ? OR (received = ? AND n > ?))'].join(' AND ')}
       ORDER BY received, n LIMIT ?`,
    );
    let after: [number, number] = [Number.MIN_SAFE_INTEGER, 0];
    while (left > 0) {
      const size = Math.min(PAGE, left);
      const rows = page.all(...params, after[0], after[0], after[1], size);
      for (const row of rows) {
        yield {
          deviceId: String(row.device_id),
          received: new Date(Number(row.received)),
          report: row.report as Uint8Array,
        };
      }
      if (rows.length < size) return;
      const last = rows[rows.length - 1] as { received: number; n: number };
      after = [Number(last.received), Number(last.n)];
      left -= rows.length;
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Opens (creating if needed) the log store at `path`, in WAL mode so readers never block the server. */
export function openSqliteLogStore(path: string): LogStore {
  // FULL: a report the server answered 204 to survives a power cut.
  const file = { what: 'log store', schema: SCHEMA, version: SCHEMA_VERSION, synchronous: 'FULL' } as const;
  return openSqliteFile(path, file, (db) => new SqliteLogStore(db));
}
