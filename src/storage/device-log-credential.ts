// A device's own credential for the log table: a table SAS bound to the table's current stored access
// policy (add only, until the policy's expiry), only for the partition named after the device. It is
// issued at provisioning and renewed at publish time in the device's sealed credential box, so no two
// devices share a secret. Revoking a device withdraws the policy: every SAS bound to it stops working
// at once, the revoked device's included, and the others get a new one with the next publication.
import {
  AzureNamedKeyCredential,
  generateTableSas,
  type SignedIdentifier,
  type TableClient,
} from '@azure/data-tables';
import { type Clock, systemClock } from '../core/clock.ts';
import { SihlError } from '../core/errors.ts';
import { azureAccess, azureTableClient, azureTableClientWithSas, type Env } from './azure-connect.ts';
import { checkDeviceId, openAzureTableLogStore } from './azure-table-log-store.ts';
import type { LogStore } from './log-store.ts';
import { storeError } from './store-errors.ts';

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
  /** The stored access policy the SAS is bound to (devicePolicy): it holds the permission and expiry. */
  readonly policy: string;
  readonly account: string;
  /** The account key that signs the SAS; it never leaves the issuer. */
  readonly accountKey: string;
  readonly endpoint: string;
  readonly table: string;
  readonly deviceId: string;
  /** The policy's expiry (checked here, kept in the credential; the policy enforces it). */
  readonly expiresOn: Date;
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
  // Permission, start and expiry come from the policy (a SAS may not repeat them).
  const sas = generateTableSas(
    options.table,
    new AzureNamedKeyCredential(options.account, options.accountKey),
    { identifier: options.policy, startPartitionKey: deviceId, endPartitionKey: deviceId },
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

/** Names of the stored access policies sihl keeps on a log table: sihl-1, sihl-2, … (one at a time). */
const POLICY = /^sihl-(\d{1,9})$/;

/** The number of the newest sihl policy in `acl`, or 0. */
function newestPolicy(acl: readonly SignedIdentifier[]): number {
  return Math.max(0, ...acl.map((p) => Number(POLICY.exec(p.id)?.[1] ?? 0)));
}

/**
 * Makes sure the table's current device policy exists and runs until `expiresOn` (add only), and returns
 * its name. Stored access policies of others on the table are kept as they are.
 */
export async function devicePolicy(client: TableClient, expiresOn: Date, now: Date): Promise<string> {
  const acl: SignedIdentifier[] = [...(await client.getAccessPolicy())];
  const current = Math.max(1, newestPolicy(acl));
  const id = `sihl-${current}`;
  const start = acl.find((p) => p.id === id)?.accessPolicy?.start ?? new Date(now.getTime() - CLOCK_SKEW_MS);
  const others = acl.filter((p) => p.id !== id);
  await client.setAccessPolicy([
    ...others,
    { id, accessPolicy: { permission: 'a', start, expiry: expiresOn } },
  ]);
  return id;
}

/**
 * Withdraws the table's current device policy and puts its successor in place: every SAS bound to the old
 * one is refused from now on (Azure may take up to 30 seconds). Returns the names of both.
 */
export async function withdrawDevicePolicy(
  client: TableClient,
  expiresOn: Date,
  now: Date,
): Promise<{ readonly withdrawn: string; readonly current: string }> {
  const acl: SignedIdentifier[] = [...(await client.getAccessPolicy())];
  const newest = newestPolicy(acl);
  const current = `sihl-${newest + 1}`;
  const others = acl.filter((p) => !POLICY.test(p.id));
  const start = new Date(now.getTime() - CLOCK_SKEW_MS);
  await client.setAccessPolicy([
    ...others,
    { id: current, accessPolicy: { permission: 'a', start, expiry: expiresOn } },
  ]);
  return { withdrawn: `sihl-${newest}`, current };
}

/** A failure to read or set a table's access policies, as a SihlError naming the table. */
export function policyError(table: string): (error: unknown) => never {
  return (error) => {
    const like = error as { statusCode?: number; code?: string };
    throw storeError(`the access policies of table ${table}`, error, like?.statusCode, like?.code);
  };
}

/**
 * Revocation's part in the log table: withdraws the policy every device SAS is bound to (docs/CLOUD.md).
 * Needs the account key, as issuing does.
 */
export async function withdrawDeviceLogCredentials(
  location: { readonly account: string; readonly table: string },
  env: Env,
  options: { readonly days?: number; readonly now?: Clock } = {},
): Promise<{ readonly withdrawn: string; readonly current: string }> {
  const now = (options.now ?? systemClock)();
  const expiresOn = new Date(now.getTime() + (options.days ?? DEVICE_LOG_SAS_DEFAULT_DAYS) * DAY_MS);
  const client = azureTableClient(location.account, location.table, env);
  return withdrawDevicePolicy(client, expiresOn, now).catch(policyError(location.table));
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
  const expiresOn = new Date(now().getTime() + days * DAY_MS);
  const client = azureTableClient(location.account, location.table, env);
  const policy = await devicePolicy(client, expiresOn, now()).catch(policyError(location.table));
  return {
    tableUrl: `${access.endpoint}/${location.table}`,
    issue: (deviceId) =>
      issueDeviceLogCredential({
        policy,
        account: location.account,
        accountKey,
        endpoint: access.endpoint,
        table: location.table,
        deviceId,
        expiresOn,
        now,
      }),
  };
}
