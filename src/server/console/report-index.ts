// The fleet as the console and rollouts query it: a node:sqlite index (console.db in the workspace) of
// every device's latest state and of every report's fields, fed as reports arrive and caught up from the
// log store on open. Derived data: delete the file and it is rebuilt. Each entry is verified against the
// registry before it counts, like `sihl fleet status` does, because the log store is not trusted.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { fromHex } from '../../core/format/bytes.ts';
import { type StatusReport, verifySignedReport } from '../../core/format/report.ts';
import { inRollout } from '../../core/rollout.ts';
import type { DeviceStatus } from '../../publisher/fleet.ts';
import { countsInFigures, type Device, REGISTRY_BATCH, type Registry } from '../../publisher/registry.ts';
import type { Cohort, RolloutCounts } from '../../publisher/rollout.ts';
import type { LogStore } from '../../storage/log-store.ts';
import { openSqliteFile } from '../../storage/sqlite-file.ts';

export const INDEX_FILE = 'console.db';
/** Rows per page of the device table, at most. */
export const PAGE_MAX = 200;
// 2: reports keep the model they name, so counts can check it against the registry.
// 3: devices keep their registered channel, so counts take only the release's channel.
const SCHEMA_VERSION = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY, idx INTEGER NOT NULL, model TEXT NOT NULL, channel TEXT NOT NULL, owner TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  running TEXT, last_seen INTEGER, last_outcome TEXT, last_target TEXT, last_seq INTEGER,
  last_error TEXT, last_error_at INTEGER, last_error_seq INTEGER, reports INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS devices_idx ON devices (idx);
CREATE INDEX IF NOT EXISTS devices_model_running ON devices (model, running);
CREATE INDEX IF NOT EXISTS devices_running ON devices (running, idx);
CREATE INDEX IF NOT EXISTS devices_outcome ON devices (last_outcome, idx);
CREATE INDEX IF NOT EXISTS devices_seen ON devices (last_seen);
CREATE INDEX IF NOT EXISTS devices_error ON devices (last_error, idx);
CREATE TABLE IF NOT EXISTS reports (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, received INTEGER NOT NULL, outcome TEXT NOT NULL,
  model TEXT NOT NULL, running TEXT NOT NULL, target TEXT, reason TEXT, attempts INTEGER,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reports_target ON reports (target, device_id, seq) WHERE target IS NOT NULL;
CREATE INDEX IF NOT EXISTS reports_received ON reports (received);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

export type DeviceFilterStatus = 'ok' | 'failed' | 'silent' | 'revoked';

export interface DeviceQuery {
  /** A device id prefix (hex), or text found in the owner. */
  readonly q?: string;
  readonly model?: string;
  /** Running version; "none" for devices that never reported. */
  readonly version?: string;
  readonly status?: DeviceFilterStatus;
  /** Only devices whose latest error has this reason code. */
  readonly error?: string;
  /** Last seen before / at or after these instants (ms). */
  readonly seenBefore?: number;
  readonly seenSince?: number;
  readonly page?: number;
  readonly size?: number;
}

/** A device as the console lists it: the fields of `sihl fleet status`, with times as numbers. */
export interface DeviceRow
  extends Pick<
    DeviceStatus,
    'id' | 'idx' | 'model' | 'owner' | 'revoked' | 'running' | 'lastOutcome' | 'lastTarget' | 'reports'
  > {
  readonly lastSeen: number | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
}

export interface ReportRow {
  readonly seq: number;
  readonly received: number;
  readonly outcome: StatusReport['outcome'];
  readonly running: string;
  readonly target: string | null;
  readonly reason: string | null;
  readonly attempts: number | null;
}

export interface TimelinePoint {
  /** End of the bucket (ms). */
  readonly at: number;
  /** Devices whose first success / first failure for the target came at or before `at`. */
  readonly installed: number;
  readonly failed: number;
}

type Row = Record<string, unknown>;
const SUCCEEDED: ReadonlySet<string> = new Set(['installed', 'booted']);
/** A download or verification error, a refusal at boot, a reverted trial: all failures of the release. */
const FAILED: ReadonlySet<string> = new Set(['rejected', 'reverted', 'error']);
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

function deviceRow(r: Row): DeviceRow {
  return {
    id: String(r.id),
    idx: Number(r.idx),
    model: String(r.model),
    owner: String(r.owner),
    revoked: Number(r.revoked) === 1,
    running: str(r.running),
    lastSeen: num(r.last_seen),
    lastOutcome: str(r.last_outcome) as DeviceRow['lastOutcome'],
    lastTarget: str(r.last_target),
    lastError: str(r.last_error),
    lastErrorAt: num(r.last_error_at),
    reports: Number(r.reports),
  };
}

export class ReportIndex {
  readonly #db: DatabaseSync;
  readonly #registry: Pick<Registry, 'get' | 'list'>;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, registry: Pick<Registry, 'get' | 'list'>) {
    this.#db = db;
    this.#registry = registry;
  }

  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  #upsertDevice(d: Device): void {
    this.#sql(
      `INSERT INTO devices (id, idx, model, channel, owner, revoked) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET revoked = excluded.revoked, owner = excluded.owner,
         channel = excluded.channel`,
    ).run(d.id, d.idx, d.model, d.channel, d.owner, countsInFigures(d) ? 0 : 1);
  }

  /** Copies every registered device (new ones, and revocations) into the index. */
  syncRegistry(): number {
    let count = 0;
    this.#transaction(() => {
      for (let offset = 0; ; offset += REGISTRY_BATCH) {
        const page = this.#registry.list({ includeRevoked: true, limit: REGISTRY_BATCH, offset });
        for (const device of page) this.#upsertDevice(device);
        count += page.length;
        if (page.length < REGISTRY_BATCH) return;
      }
    });
    return count;
  }

  #transaction(work: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      work();
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  /** Adds one log entry; false when it does not verify against its device (it is then not counted). */
  #add(deviceId: string, received: number, bytes: Uint8Array): boolean {
    const device = this.#registry.get(deviceId);
    if (!device) return false;
    let report: StatusReport;
    try {
      report = verifySignedReport(bytes, device.sign);
    } catch {
      return false;
    }
    this.#upsertDevice(device);
    const inserted = this.#sql(
      `INSERT OR IGNORE INTO reports (device_id, seq, received, outcome, model, running, target, reason, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      deviceId,
      report.seq,
      received,
      report.outcome,
      report.model,
      report.running,
      report.target ?? null,
      report.reason ?? null,
      report.attempts ?? null,
    );
    if (Number(inserted.changes) === 0) return true;
    this.#sql(
      `UPDATE devices SET reports = reports + 1,
         running = CASE WHEN ? > coalesce(last_seq, -1) THEN ? ELSE running END,
         last_seen = CASE WHEN ? > coalesce(last_seq, -1) THEN ? ELSE last_seen END,
         last_outcome = CASE WHEN ? > coalesce(last_seq, -1) THEN ? ELSE last_outcome END,
         last_target = CASE WHEN ? > coalesce(last_seq, -1) THEN ? ELSE last_target END,
         last_seq = max(coalesce(last_seq, -1), ?)
       WHERE id = ?`,
    ).run(
      ...[report.running, received, report.outcome, report.target ?? null].flatMap((v) => [report.seq, v]),
      report.seq,
      deviceId,
    );
    if (report.outcome === 'error' || report.outcome === 'rejected' || report.outcome === 'reverted') {
      this.#sql(
        `UPDATE devices SET last_error = ?, last_error_at = ?, last_error_seq = ?
         WHERE id = ? AND ? > coalesce(last_error_seq, -1)`,
      ).run(report.reason ?? 'UNKNOWN', received, report.seq, deviceId, report.seq);
    }
    return true;
  }

  /** Adds entries the server just stored (already verified once; verified again here). */
  ingest(deviceId: string, entries: readonly { received: Date; report: Uint8Array }[]): void {
    this.#transaction(() => {
      for (const e of entries) this.#add(deviceId, e.received.getTime(), e.report);
      const newest = Math.max(...entries.map((e) => e.received.getTime()));
      this.#sql(
        `INSERT INTO meta (key, value) VALUES ('received', ?)
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
      ).run(newest);
    });
  }

  /** Reads the log store from the newest entry indexed on (inserts are idempotent, so overlap is harmless). */
  async catchUp(logStore: LogStore): Promise<number> {
    const since = Number(this.#sql(`SELECT value FROM meta WHERE key = 'received'`).get()?.value ?? 0);
    let seen = 0;
    let batch: { deviceId: string; received: Date; report: Uint8Array }[] = [];
    const flush = () => {
      const byDevice = Map.groupBy(batch, (e) => e.deviceId);
      this.#transaction(() => {
        for (const [id, entries] of byDevice)
          for (const e of entries) this.#add(id, e.received.getTime(), e.report);
        const newest = Math.max(0, ...batch.map((e) => e.received.getTime()));
        this.#sql(
          `INSERT INTO meta (key, value) VALUES ('received', ?)
           ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
        ).run(newest);
      });
      batch = [];
    };
    for await (const entry of logStore.query({ since: new Date(since) })) {
      batch.push(entry);
      seen++;
      if (batch.length === 1000) flush();
    }
    if (batch.length > 0) flush();
    return seen;
  }

  listDevices(query: DeviceQuery): { rows: DeviceRow[]; total: number; page: number; size: number } {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    const q = query.q?.trim().toLowerCase();
    if (q) {
      if (/^[0-9a-f]{1,64}$/.test(q)) {
        // Hex is a device-id prefix: a range on the primary key.
        where.push('id >= ? AND id < ?');
        params.push(q, `${q}g`);
      } else {
        where.push('owner LIKE ?');
        params.push(`%${query.q?.trim()}%`);
      }
    }
    if (query.model) {
      where.push('model = ?');
      params.push(query.model);
    }
    if (query.version === 'none') where.push('running IS NULL');
    else if (query.version) {
      where.push('running = ?');
      params.push(query.version);
    }
    if (query.status === 'ok') where.push(`last_outcome IN ('installed', 'booted')`);
    if (query.status === 'failed') where.push(`last_outcome IN ('rejected', 'reverted', 'error')`);
    if (query.status === 'silent') where.push('last_seen IS NULL');
    if (query.status === 'revoked') where.push('revoked = 1');
    if (query.error) {
      where.push('last_error = ?');
      params.push(query.error);
    }
    if (query.seenBefore !== undefined) {
      where.push('(last_seen IS NULL OR last_seen < ?)');
      params.push(query.seenBefore);
    }
    if (query.seenSince !== undefined) {
      where.push('last_seen >= ?');
      params.push(query.seenSince);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const size = Math.min(PAGE_MAX, Math.max(1, Math.floor(query.size ?? 50)));
    const total = Number(
      this.#db.prepare(`SELECT count(*) AS n FROM devices ${clause}`).get(...params)?.n ?? 0,
    );
    const pages = Math.max(1, Math.ceil(total / size));
    const page = Math.min(pages, Math.max(1, Math.floor(query.page ?? 1)));
    const rows = this.#db
      .prepare(`SELECT * FROM devices ${clause} ORDER BY idx LIMIT ? OFFSET ?`)
      .all(...params, size, (page - 1) * size)
      .map((r) => deviceRow(r as Row));
    return { rows, total, page, size };
  }

  device(id: string): DeviceRow | undefined {
    const r = this.#sql('SELECT * FROM devices WHERE id = ?').get(id);
    return r ? deviceRow(r as Row) : undefined;
  }

  /** A device's reports, newest first. */
  history(id: string, limit = 100): ReportRow[] {
    return this.#sql(
      'SELECT seq, received, outcome, running, target, reason, attempts FROM reports WHERE device_id = ? ORDER BY seq DESC LIMIT ?',
    )
      .all(id, limit)
      .map((r) => ({
        seq: Number(r.seq),
        received: Number(r.received),
        outcome: String(r.outcome) as ReportRow['outcome'],
        running: String(r.running),
        target: str(r.target),
        reason: str(r.reason),
        attempts: num(r.attempts),
      }));
  }

  /** Devices per model and running version ("none": never reported). */
  versions(): { model: string; version: string; devices: number }[] {
    return this.#sql(
      `SELECT model, coalesce(running, 'none') AS version, count(*) AS n FROM devices
       WHERE revoked = 0 GROUP BY model, running ORDER BY model, n DESC`,
    )
      .all()
      .map((r) => ({ model: String(r.model), version: String(r.version), devices: Number(r.n) }));
  }

  totals(): { devices: number; reported: number; failing: number } {
    const r = this.#sql(
      `SELECT count(*) AS devices, count(last_seen) AS reported,
         sum(last_outcome IN ('rejected', 'reverted', 'error')) AS failing FROM devices WHERE revoked = 0`,
    ).get() as Row;
    return { devices: Number(r.devices), reported: Number(r.reported), failing: Number(r.failing ?? 0) };
  }

  /**
   * What the devices of a release's cohort said (docs/ROLLOUTS.md §What counts): each unrevoked device
   * of the release's model, registered on the release's channel, that the stage offers it to, counted
   * once by its latest report naming the target since `cohort.since`, and only a report naming the model
   * the registry holds for it. Reports of other models or channels, of devices outside the stage, and of
   * revoked devices do not count.
   */
  counts(cohort: Cohort): RolloutCounts {
    const releaseId = fromHex(cohort.releaseId);
    const offered = new Set(
      this.#sql('SELECT id FROM devices WHERE model = ? AND channel = ? AND revoked = 0')
        .all(cohort.model, cohort.channel)
        .map((r) => String(r.id))
        .filter((id) => inRollout(releaseId, id, cohort.percent)),
    );
    const latest = this.#sql(
      `SELECT device_id, outcome FROM (SELECT device_id, max(seq) AS seq FROM reports
         WHERE target = ? AND received >= ? AND model = ? GROUP BY device_id) AS latest
       JOIN reports USING (device_id, seq)`,
    ).all(cohort.target, cohort.since.getTime(), cohort.model);
    let reported = 0;
    let succeeded = 0;
    let failed = 0;
    for (const r of latest) {
      if (!offered.has(String(r.device_id))) continue;
      reported++;
      if (SUCCEEDED.has(String(r.outcome))) succeeded++;
      else if (FAILED.has(String(r.outcome))) failed++;
    }
    return { offered: offered.size, reported, succeeded, failed };
  }

  /** Cumulative devices installed / failed for `target` over time, in `buckets` steps. */
  timeline(target: string, buckets = 40): TimelinePoint[] {
    const span = this.#sql('SELECT min(received) AS a, max(received) AS b FROM reports WHERE target = ?').get(
      target,
    ) as Row;
    if (span.a === null) return [];
    // node:sqlite binds JS numbers as REAL, so bucket numbers are cast back to integers.
    const from = Number(span.a);
    const width = Math.max(1, Math.ceil((Number(span.b) - from + 1) / buckets));
    const firsts = (outcomes: string) =>
      new Map(
        this.#sql(
          `SELECT CAST((t - ?) / ? AS INTEGER) AS b, count(*) AS n FROM (SELECT min(received) AS t FROM reports
           WHERE target = ? AND outcome IN (${outcomes}) GROUP BY device_id) GROUP BY b`,
        )
          .all(from, width, target)
          .map((r) => [Number(r.b), Number(r.n)]),
      );
    const ok = firsts(`'installed', 'booted'`);
    const bad = firsts(`'rejected', 'reverted', 'error'`);
    const points: TimelinePoint[] = [];
    let installed = 0;
    let failed = 0;
    for (let b = 0; b < buckets; b++) {
      installed += ok.get(b) ?? 0;
      failed += bad.get(b) ?? 0;
      points.push({ at: from + (b + 1) * width, installed, failed });
    }
    return points;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Opens (creating if needed) the index at `path` over `registry`. */
export function openReportIndex(path: string, registry: Pick<Registry, 'get' | 'list'>): ReportIndex {
  const file = {
    what: 'console index',
    schema: SCHEMA,
    version: SCHEMA_VERSION,
    // Derived data: a power cut costs at most a catch-up from the log store; another version is rebuilt.
    synchronous: 'NORMAL',
    dropOtherVersion:
      'DROP TABLE IF EXISTS devices; DROP TABLE IF EXISTS reports; DROP TABLE IF EXISTS meta;',
  } as const;
  return openSqliteFile(path, file, (db) => new ReportIndex(db, registry));
}

/** The log store, with every accepted append also fed to the index. */
export function indexingLogStore(
  store: LogStore,
  index: ReportIndex,
  onIngest?: (deviceId: string) => void,
): LogStore {
  return {
    async append(deviceId, entries) {
      await store.append(deviceId, entries);
      try {
        index.ingest(deviceId, entries);
        onIngest?.(deviceId);
      } catch {
        // The report is stored; the next catch-up indexes it.
      }
    },
    query: (query) => store.query(query),
    close: () => store.close(),
  };
}
