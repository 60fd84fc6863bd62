// Delivering signed status reports to Azure Table Storage instead of sihl's server: one Insert Entity
// request per report, into the device's own partition, authorised by the device's own table SAS (add
// only, its partition only, with an expiry; docs/CLOUD.md). Plain HTTPS through the pinned client rather
// than the Azure SDK: one request shape, the same pinned trust and byte limits as every other request.
import { sha256 } from '../../core/crypto/hash.ts';
import { isSihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { decodeSignedReport } from '../../core/format/report.ts';
import { PinnedClient } from './https-client.ts';
import type { Delivery } from './reports.ts';

/** The Table service version whose Insert Entity this speaks. */
const TABLE_API_VERSION = '2019-02-02';

export interface TableLog {
  /** The table's URL, e.g. https://ACCOUNT.table.core.windows.net/TABLE (no query). */
  readonly table: string;
  /** The device's table SAS (query string). */
  readonly sas: string;
}

/**
 * The entity's row key: the report's time in milliseconds and its sequence number (so a partition reads
 * in order), and a digest of the report, so a report sent again after a lost answer is the same entity
 * (409, counted as delivered) rather than a second one.
 */
export function reportRowKey(report: Uint8Array): { rowKey: string; time: Date } {
  const { report: fields } = decodeSignedReport(report);
  const ms = fields.time * 1000;
  const rowKey = `${String(ms).padStart(15, '0')}-${String(fields.seq % 1e12).padStart(12, '0')}-${toHex(sha256(report)).slice(0, 8)}`;
  return { rowKey, time: new Date(ms) };
}

export class TableReporter {
  readonly #client: PinnedClient;
  readonly #path: string;
  readonly #deviceId: string;

  constructor(log: TableLog, certificate: string, deviceId: string, network: object = {}) {
    const url = new URL(log.table);
    const table = url.pathname.replace(/\/+$/, '');
    url.pathname = `${table.slice(0, table.lastIndexOf('/'))}/`;
    url.search = log.sas.replace(/^\?/, '');
    this.#client = new PinnedClient({ ...network, server: url.href, certificate });
    this.#path = table.slice(table.lastIndexOf('/') + 1);
    this.#deviceId = deviceId;
  }

  /** 201/204: stored; 409: stored before. 403 (an expired SAS), 429, 5xx or no answer: kept for later. */
  async deliver(report: Uint8Array): Promise<Delivery> {
    let entity: Uint8Array;
    try {
      const { rowKey, time } = reportRowKey(report);
      entity = new TextEncoder().encode(
        JSON.stringify({
          PartitionKey: this.#deviceId,
          RowKey: rowKey,
          'received@odata.type': 'Edm.DateTime',
          received: time.toISOString(),
          report: Buffer.from(report).toString('base64'),
        }),
      );
    } catch {
      return 'refused'; // not a report this device made: nothing to send
    }
    try {
      const { status } = await this.#client.post(this.#path, entity, 'application/json', {
        accept: 'application/json;odata=nometadata',
        prefer: 'return-no-content',
        'x-ms-version': TABLE_API_VERSION,
        dataserviceversion: '3.0',
      });
      if ((status >= 200 && status < 300) || status === 409) return 'accepted';
      if (status === 403 || status === 429 || status >= 500) return 'later';
      return 'refused';
    } catch (error) {
      if (isSihlError(error) && error.family !== 'internal') return 'later';
      throw error;
    }
  }

  close(): void {
    this.#client.close();
  }
}
