// A device's own credential for the log table: a table SAS that may only add entities, only to the
// partition named after the device, until it expires. It is issued at provisioning and renewed at publish
// time inside the device's sealed envelope, so no two devices share a secret (issue 6, item 4).
import { AzureNamedKeyCredential, generateTableSas } from '@azure/data-tables';
import { type Clock, systemClock } from '../core/clock.ts';
import { SihlError } from '../core/errors.ts';
import { azureAccess, azureTableClientWithSas, type Env } from './azure-connect.ts';
import { checkDeviceId, openAzureTableLogStore } from './azure-table-log-store.ts';
import type { LogStore } from './log-store.ts';

/** Longest validity accepted; a device renews its credential with every release it receives. */
export const DEVICE_LOG_SAS_MAX_DAYS = 400;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface DeviceLogCredential {
  /** The table service, e.g. https://ACCOUNT.table.core.windows.net (no query, no secret). */
  readonly endpoint: string;
  readonly table: string;
  readonly deviceId: string;
  /** The SAS query string. A secret of this one device: keep it out of logs and files it is not sealed in. */
  readonly sas: string;
  readonly expiresOn: Date;
}

export interface IssueOptions {
  readonly account: string;
  /** The account key that signs the SAS; it never leaves the issuer. */
  readonly accountKey: string;
  readonly endpoint: string;
  readonly table: string;
  readonly deviceId: string;
  readonly expiresOn: Date;
  /** Defaults to a few minutes before now, for clocks slightly ahead of the service's. */
  readonly startsOn?: Date;
  readonly now?: Clock;
}

const CLOCK_SKEW_MS = 5 * 60 * 1000;

export function issueDeviceLogCredential(options: IssueOptions): DeviceLogCredential {
  const deviceId = checkDeviceId(options.deviceId);
  const now = (options.now ?? systemClock)();
  const lifetime = options.expiresOn.getTime() - now.getTime();
  if (!(lifetime > 0) || lifetime > DEVICE_LOG_SAS_MAX_DAYS * DAY_MS) {
    throw new SihlError(
      'USAGE',
      `a device's log credential must expire within ${DEVICE_LOG_SAS_MAX_DAYS} days from now`,
    );
  }
  const sas = generateTableSas(
    options.table,
    new AzureNamedKeyCredential(options.account, options.accountKey),
    {
      permissions: { add: true },
      startPartitionKey: deviceId,
      endPartitionKey: deviceId,
      startsOn: options.startsOn ?? new Date(now.getTime() - CLOCK_SKEW_MS),
      expiresOn: options.expiresOn,
    },
  );
  return { endpoint: options.endpoint, table: options.table, deviceId, sas, expiresOn: options.expiresOn };
}

/**
 * The log store as a device sees it: it holds only its SAS, so it can append to its own partition and
 * nothing else (a query fails with STORE_DENIED), one entry per append. Appending under another id is
 * refused here already;
 * the service refuses it too, where it enforces the SAS's partition range (Azure does, Azurite does not).
 */
export function openDeviceLogStore(credential: DeviceLogCredential): LogStore {
  const store = openAzureTableLogStore(
    azureTableClientWithSas(credential.endpoint, credential.table, credential.sas),
  );
  return {
    append(deviceId, entries) {
      if (deviceId !== credential.deviceId) {
        return Promise.reject(
          new SihlError('USAGE', "this credential only appends to its own device's partition"),
        );
      }
      // A batch (entity group transaction) needs add, update, delete and query rights on Azurite, which
      // this SAS must not have; a device sends one report at a time anyway.
      if (entries.length > 1) {
        return Promise.reject(new SihlError('USAGE', 'a device appends one entry at a time'));
      }
      return store.append(deviceId, entries);
    },
    query: (query) => store.query(query),
    close: () => store.close(),
  };
}

/** Days a device's log SAS is valid when nothing else is asked for: it is renewed with every release. */
export const DEVICE_LOG_SAS_DEFAULT_DAYS = 90;

export interface DeviceLogIssuer {
  /** The table's URL, as a device's agent.json names it (no secret). */
  readonly tableUrl: string;
  issue(deviceId: string): DeviceLogCredential;
}

/**
 * Issues per-device SAS for the table of `location`, signed with the account key from `env` (only a
 * key can sign a table SAS). The key stays in this closure; the SAS go into sealed boxes only.
 */
export async function deviceLogIssuer(
  location: { readonly account: string; readonly table: string },
  env: Env,
  options: { readonly days?: number; readonly now?: Clock } = {},
): Promise<DeviceLogIssuer> {
  const access = azureAccess(location.account, 'table', env);
  if (access.credential.kind !== 'key') {
    throw new SihlError(
      'STORE_CREDENTIALS_MISSING',
      `issuing device SAS for ${location.account} needs its account key: set AZURE_STORAGE_KEY or an AccountKey in AZURE_STORAGE_CONNECTION_STRING`,
    );
  }
  const accountKey = access.credential.key;
  const days = options.days ?? DEVICE_LOG_SAS_DEFAULT_DAYS;
  const now = options.now ?? systemClock;
  return {
    tableUrl: `${access.endpoint}/${location.table}`,
    issue: (deviceId) =>
      issueDeviceLogCredential({
        account: location.account,
        accountKey,
        endpoint: access.endpoint,
        table: location.table,
        deviceId,
        expiresOn: new Date(now().getTime() + days * DAY_MS),
        now,
      }),
  };
}
