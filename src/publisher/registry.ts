// The device registry: every provisioned device's public keys, model, release channel and owner, in one
// node:sqlite file.
// A device's `idx` is dense and stable (0, 1, 2, … in order of provisioning, never reused, kept after
// revocation) because it is the device's slot in every release's envelope tables (envelopes.ts).
import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementSync } from 'node:sqlite';
import { checkBoxPublicKey } from '../core/crypto/box.ts';
import { sha256 } from '../core/crypto/hash.ts';
import { checkSigningPublicKey } from '../core/crypto/sign.ts';
import { SihlError } from '../core/errors.ts';
import { toHex, utf8 } from '../core/format/bytes.ts';
import { checkModel } from '../core/format/manifest.ts';
import { DEFAULT_CHANNEL, NAME_PATTERN } from '../core/format/target.ts';
import { openSqliteFile } from '../storage/sqlite-file.ts';

/** An owner is a free-form label (a customer, a site); bounded so a typo cannot store a novel. */
export const OWNER_MAX_BYTES = 256;
/** Rows per batch of `eligible` and the most `list` returns at once. */
export const REGISTRY_BATCH = 10_000;
// 2: devices have a release channel; registries of version 1 read as DEFAULT_CHANNEL.
const SCHEMA_VERSION = 2;
const DEVICE_ID = /^[0-9a-f]{64}$/;

export interface NewDevice {
  /** Ed25519 public key: the device's identity; its SHA-256 is the device id. */
  readonly sign: Uint8Array;
  /** X25519 public key that release content keys are sealed to. */
  readonly box: Uint8Array;
  readonly model: string;
  /** The release channel its agent follows (agent.json); DEFAULT_CHANNEL when not given. */
  readonly channel?: string;
  readonly owner: string;
  /** Unix time in seconds. */
  readonly now: number;
}

export interface Device {
  readonly idx: number;
  readonly id: string;
  readonly sign: Uint8Array;
  readonly box: Uint8Array;
  readonly model: string;
  /** Only releases published on this channel are offered to it, and only those count its reports. */
  readonly channel: string;
  readonly owner: string;
  readonly revokedAt: number | null;
  readonly provisionedAt: number;
}

export interface Provisioned {
  readonly idx: number;
  readonly id: string;
}

/** What a release needs of a device to seal it an envelope. */
export interface EligibleDevice {
  readonly idx: number;
  readonly id: string;
  readonly box: Uint8Array;
}

export interface ListOptions {
  readonly model?: string;
  readonly channel?: string;
  readonly includeRevoked?: boolean;
  readonly limit: number;
  readonly offset?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  idx INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sign BLOB NOT NULL,
  box BLOB NOT NULL,
  model TEXT NOT NULL,
  channel TEXT NOT NULL DEFAULT '${DEFAULT_CHANNEL}',
  owner TEXT NOT NULL,
  revoked_at INTEGER,
  provisioned_at INTEGER NOT NULL
);
-- An index on model is ordered by (model, idx), so eligible() walks one model in idx order.
CREATE INDEX IF NOT EXISTS devices_model ON devices (model);
`;

const COLUMNS = 'idx, id, sign, box, model, channel, owner, revoked_at, provisioned_at';

/** Version 1 → 2: every device registered before channels follows the default one. */
const UPGRADES = {
  1: `ALTER TABLE devices ADD COLUMN channel TEXT NOT NULL DEFAULT '${DEFAULT_CHANNEL}';`,
};

/**
 * Whether a device counts in any figure (`fleet status`, rollout counts, the console): a revoked device
 * does not, whatever it reports. The one place that says so.
 */
export function countsInFigures(device: { readonly revokedAt: number | null }): boolean {
  return device.revokedAt === null;
}

/** Device ids are lowercase hex SHA-256 of the Ed25519 public key. */
export function deviceIdOf(signPublicKey: Uint8Array): string {
  return toHex(sha256(signPublicKey));
}

function checkId(id: string): string {
  if (typeof id !== 'string' || !DEVICE_ID.test(id)) {
    throw new SihlError('USAGE', `"${String(id).slice(0, 80)}" is not a device id (64 lowercase hex digits)`);
  }
  return id;
}

function checkTime(now: number, what: string): number {
  if (!Number.isSafeInteger(now) || now < 0)
    throw new SihlError('USAGE', `${what} must be a Unix time in seconds`);
  return now;
}

function checkCount(value: number, what: string, max: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new SihlError('USAGE', `${what} must be a whole number from 0 to ${max}`);
  }
  return value;
}

/** A channel name as agent.json and `release publish --channel` take it. */
export function checkChannel(channel: string): string {
  if (typeof channel !== 'string' || !NAME_PATTERN.test(channel)) {
    throw new SihlError(
      'USAGE',
      `channel "${String(channel).slice(0, 80)}" is not a channel name (a letter or digit, then letters, digits and . _ -)`,
    );
  }
  return channel;
}

function checkOwner(owner: string): string {
  if (typeof owner !== 'string' || owner.length === 0 || utf8.encode(owner).length > OWNER_MAX_BYTES) {
    throw new SihlError('USAGE', `owner must be 1 to ${OWNER_MAX_BYTES} bytes of text`);
  }
  return owner;
}

type Row = Record<string, SQLOutputValue>;

// node:sqlite returns every BLOB as a fresh Uint8Array, so rows can hand theirs out without copying.

function deviceOf(row: Row): Device {
  return {
    idx: Number(row.idx),
    id: String(row.id),
    sign: row.sign as Uint8Array,
    box: row.box as Uint8Array,
    model: String(row.model),
    channel: String(row.channel),
    owner: String(row.owner),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    provisionedAt: Number(row.provisioned_at),
  };
}

export class Registry {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #count: StatementSync;
  readonly #revoke: StatementSync;
  readonly #eligible: StatementSync;
  readonly #revokedOf: StatementSync;

  constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    // The next idx is computed inside the insert, which holds SQLite's write lock: dense even with
    // several writers. ON CONFLICT … DO NOTHING returns no row for a duplicate id.
    this.#insert = db.prepare(
      `INSERT INTO devices (idx, id, sign, box, model, channel, owner, revoked_at, provisioned_at)
       VALUES ((SELECT coalesce(max(idx) + 1, 0) FROM devices), ?, ?, ?, ?, ?, ?, NULL, ?)
       ON CONFLICT (id) DO NOTHING RETURNING idx`,
    );
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM devices WHERE id = ?`);
    this.#count = db.prepare('SELECT count(*) AS n FROM devices');
    this.#revoke = db.prepare(
      'UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING idx',
    );
    this.#eligible = db.prepare(
      `SELECT idx, id, box FROM devices
       WHERE model = ? AND revoked_at IS NULL AND idx > ? ORDER BY idx LIMIT ?`,
    );
    this.#revokedOf = db.prepare('SELECT box FROM devices WHERE model = ? AND revoked_at IS NOT NULL');
  }

  /** Registers one device; refuses a device id that is already registered. */
  provision(device: NewDevice): Provisioned {
    return this.#provisionOne(device);
  }

  /**
   * Registers many devices in one transaction: all or none (a factory batch, an import). Far faster
   * than one `provision` each, which commits, and so syncs, once per device.
   */
  provisionMany(devices: Iterable<NewDevice>): Provisioned[] {
    const done: Provisioned[] = [];
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const device of devices) done.push(this.#provisionOne(device));
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
    return done;
  }

  #provisionOne(device: NewDevice): Provisioned {
    const sign = checkSigningPublicKey(device.sign, 'device Ed25519 public key');
    const box = checkBoxPublicKey(device.box, 'device X25519 public key');
    const model = checkModel(device.model);
    const channel = checkChannel(device.channel ?? DEFAULT_CHANNEL);
    const owner = checkOwner(device.owner);
    const now = checkTime(device.now, 'provisioning time');
    const id = deviceIdOf(sign);
    const row = this.#insert.get(id, sign, box, model, channel, owner, now);
    if (row === undefined) throw new SihlError('USAGE', `device ${id} is already registered`);
    return { idx: Number(row.idx), id };
  }

  /** The device with this id, or undefined when none is registered. */
  get(id: string): Device | undefined {
    const row = this.#get.get(checkId(id));
    return row === undefined ? undefined : deviceOf(row);
  }

  /** One page of devices in idx order; revoked ones only when asked for. */
  list(options: ListOptions): Device[] {
    const limit = checkCount(options.limit, 'limit', REGISTRY_BATCH);
    const offset = checkCount(options.offset ?? 0, 'offset', Number.MAX_SAFE_INTEGER);
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (options.model !== undefined) {
      where.push('model = ?');
      params.push(checkModel(options.model));
    }
    if (options.channel !== undefined) {
      where.push('channel = ?');
      params.push(checkChannel(options.channel));
    }
    if (!options.includeRevoked) where.push('revoked_at IS NULL');
    const sql = `SELECT ${COLUMNS} FROM devices ${
      where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    } ORDER BY idx LIMIT ? OFFSET ?`;
    return this.#db
      .prepare(sql)
      .all(...params, limit, offset)
      .map(deviceOf);
  }

  /** All registered devices, revoked ones included: one more than the highest idx. */
  count(): number {
    return Number(this.#count.get()?.n ?? 0);
  }

  /** Revokes a device from now on. Revoking it again keeps the first time. */
  revoke(id: string, now: number): Device {
    checkTime(now, 'revocation time');
    const row = this.#revoke.get(now, checkId(id));
    if (row === undefined) throw new SihlError('USAGE', `no device ${id} is registered`);
    return this.get(id) as Device;
  }

  /**
   * Unrevoked devices of one model in idx order, `batchSize` rows at a time. Each batch is its own
   * query that starts after the last idx seen, so no read transaction stays open between batches and
   * memory holds one batch.
   */
  *eligible(model: string, batchSize = REGISTRY_BATCH): Generator<EligibleDevice[], void, undefined> {
    checkModel(model);
    checkCount(batchSize, 'batch size', 1_000_000);
    if (batchSize === 0) throw new SihlError('USAGE', 'batch size must be at least 1');
    let after = -1;
    for (;;) {
      const rows = this.#eligible.all(model, after, batchSize);
      if (rows.length === 0) return;
      const batch = rows.map((row) => ({
        idx: Number(row.idx),
        id: String(row.id),
        box: row.box as Uint8Array,
      }));
      after = batch[batch.length - 1]?.idx ?? after;
      yield batch;
      if (rows.length < batchSize) return;
    }
  }

  /** The X25519 keys of one model's revoked devices (a release's signed revocation list names them). */
  *revokedOf(model: string): Generator<Uint8Array> {
    for (const row of this.#revokedOf.iterate(checkModel(model))) yield row.box as Uint8Array;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Opens (creating if needed) the registry at `path`, in WAL mode. */
export function openRegistry(path: string): Registry {
  // FULL: a provisioned device whose registration a power cut undid would never get an envelope.
  const file = {
    what: 'registry',
    schema: SCHEMA,
    version: SCHEMA_VERSION,
    synchronous: 'FULL',
    requireWal: true,
    upgrades: UPGRADES,
  } as const;
  return openSqliteFile(path, file, (db) => new Registry(path, db));
}
