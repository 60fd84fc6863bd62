// The log store on Azure Table Storage: one partition per device (its id), row keys that sort by received
// time, then by arrival, and the signed report kept as base64. A device appends with a SAS limited to its
// own partition (device-log-credential.ts); readers verify every report anyway, since an emulator does
// not enforce a SAS's partition range and a store may hold entries a device never wrote.
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { randomBytes } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { REPORT_MAX_BYTES } from '../core/format/report.ts';
import type { LogEntry, LogQuery, LogStore } from './log-store.ts';
import { storeError } from './store-errors.ts';

/** Table Storage commits at most 100 operations of one partition atomically (an entity group transaction). */
export const TABLE_APPEND_MAX_ENTRIES = 100;
const DEVICE_ID = /^[0-9a-f]{64}$/;
const TIME_DIGITS = 15;
const ROW_KEY = /^(\d{15})-\d{12}-[0-9a-f]{8}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// A type, not an interface: the SDK's entity type wants an index signature.
type LogEntity = {
  partitionKey: string;
  rowKey: string;
  received: Date;
  report: string;
};

// Entries appended in one process keep their order within a millisecond; the random part keeps row keys
// of two writers to one partition (a device and an operator's tool) apart.
let arrivals = 0;

function rowKeyFor(received: Date): string {
  arrivals += 1;
  const time = String(received.getTime()).padStart(TIME_DIGITS, '0');
  return `${time}-${String(arrivals).padStart(12, '0')}-${toHex(randomBytes(4))}`;
}

/** The smallest row key of entries received at `instant` or later. */
function timeBound(instant: Date): string {
  return String(Math.max(0, instant.getTime())).padStart(TIME_DIGITS, '0');
}

export function checkDeviceId(deviceId: string): string {
  if (!DEVICE_ID.test(deviceId)) {
    throw new SihlError('USAGE', 'a device id is 64 lowercase hex digits (the SHA-256 of its public key)', {
      subject: deviceId.slice(0, 80),
    });
  }
  return deviceId;
}

function checkEntry(entry: { received: Date; report: Uint8Array }): void {
  const time = entry.received.getTime();
  if (!Number.isSafeInteger(time) || time < 0)
    throw new SihlError('USAGE', 'an entry has an invalid received time');
  if (entry.report.length > REPORT_MAX_BYTES) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `a report of ${entry.report.length} bytes is over ${REPORT_MAX_BYTES}`,
    );
  }
}

/** An entry as stored, or undefined for one that no sihl appender wrote (skipped, not guessed at). */
function entryOf(entity: Record<string, unknown>): LogEntry | undefined {
  const { partitionKey, rowKey, report } = entity;
  if (typeof partitionKey !== 'string' || typeof rowKey !== 'string' || typeof report !== 'string')
    return undefined;
  const time = ROW_KEY.exec(rowKey)?.[1];
  if (time === undefined || !DEVICE_ID.test(partitionKey)) return undefined;
  if (report.length > ((REPORT_MAX_BYTES + 2) / 3) * 4 || !BASE64.test(report)) return undefined;
  const bytes = new Uint8Array(Buffer.from(report, 'base64'));
  return { deviceId: partitionKey, received: new Date(Number(time)), report: bytes };
}

class AzureTableLogStore implements LogStore {
  readonly #client: TableClient;

  constructor(client: TableClient) {
    this.#client = client;
  }

  #error(subject: string, error: unknown): SihlError {
    const like = error as { statusCode?: number; code?: string } | undefined;
    return storeError(subject, error, like?.statusCode, like?.code);
  }

  async append(deviceId: string, entries: readonly { received: Date; report: Uint8Array }[]): Promise<void> {
    checkDeviceId(deviceId);
    if (entries.length > TABLE_APPEND_MAX_ENTRIES) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `at most ${TABLE_APPEND_MAX_ENTRIES} entries can be appended at once, not ${entries.length}`,
      );
    }
    for (const entry of entries) checkEntry(entry);
    const entities: LogEntity[] = entries.map((entry) => ({
      partitionKey: deviceId,
      rowKey: rowKeyFor(entry.received),
      received: entry.received,
      report: Buffer.from(entry.report.buffer, entry.report.byteOffset, entry.report.length).toString(
        'base64',
      ),
    }));
    try {
      if (entities.length === 1) {
        await this.#client.createEntity(entities[0] as LogEntity);
      } else if (entities.length > 1) {
        const actions: TransactionAction[] = entities.map((entity): TransactionAction => ['create', entity]);
        await this.#client.submitTransaction(actions);
      }
    } catch (error) {
      throw this.#error(deviceId, error);
    }
  }

  async *query(query: LogQuery = {}): AsyncIterable<LogEntry> {
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit >= 0)) throw new SihlError('USAGE', 'a query limit is a number of entries');
    if (limit === 0) return;
    const conditions: string[] = [];
    if (query.deviceId !== undefined)
      conditions.push(odata`PartitionKey eq ${checkDeviceId(query.deviceId)}`);
    if (query.since !== undefined) conditions.push(odata`RowKey ge ${timeBound(query.since)}`);
    if (query.until !== undefined) conditions.push(odata`RowKey lt ${timeBound(query.until)}`);
    const pages = this.#client.listEntities<Record<string, unknown>>({
      queryOptions: conditions.length > 0 ? { filter: conditions.join(' and ') } : {},
    });
    let count = 0;
    try {
      if (query.deviceId !== undefined) {
        // One partition comes back in row-key order: received time, then arrival.
        for await (const entity of pages) {
          const entry = entryOf(entity);
          if (entry === undefined) continue;
          yield entry;
          if (++count >= limit) return;
        }
        return;
      }
      // Across partitions the table answers partition by partition, so the whole answer is sorted here.
      const all: { rowKey: string; entry: LogEntry }[] = [];
      for await (const entity of pages) {
        const entry = entryOf(entity);
        if (entry !== undefined) all.push({ rowKey: entity.rowKey as string, entry });
      }
      all.sort((a, b) =>
        a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : a.entry.deviceId < b.entry.deviceId ? -1 : 1,
      );
      for (const { entry } of all.slice(0, limit)) yield entry;
    } catch (error) {
      throw this.#error(query.deviceId ?? 'log', error);
    }
  }

  async close(): Promise<void> {}
}

/** A log store over an existing table. */
export function openAzureTableLogStore(client: TableClient): LogStore {
  return new AzureTableLogStore(client);
}

/** Creates the table if it is not there (needs a key or an account SAS that may create tables). */
export async function ensureLogTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    const like = error as { statusCode?: number; code?: string } | undefined;
    if (like?.statusCode !== 409) throw storeError(client.tableName, error, like?.statusCode, like?.code);
  }
}
