// Where the repository and the device logs live, as given in sihl.json or by --store/--log:
// `azure://ACCOUNT/CONTAINER[/PREFIX]`, `s3://BUCKET[/PREFIX]` or a local path (for logs:
// `azure://ACCOUNT/TABLE` or a local SQLite file). Credentials come only from the environment.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SihlError } from '../core/errors.ts';
import type { Env } from './azure-connect.ts';
import { type BlobStore, checkBlobKey } from './blob-store.ts';
import type { LogStore } from './log-store.ts';

export type { Env } from './azure-connect.ts';

export type StoreLocation =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'azure'; readonly account: string; readonly container: string; readonly prefix: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

export type LogLocation =
  | { readonly kind: 'local'; readonly path: string }
  | { readonly kind: 'azure'; readonly account: string; readonly table: string };

// The services' own naming rules, checked before any request so a typo gets a clear answer.
const AZURE_ACCOUNT = /^[a-z0-9]{3,24}$/;
const AZURE_CONTAINER = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const AZURE_TABLE = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
const S3_BUCKET = /^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

function bad(text: string, why: string): SihlError {
  return new SihlError('USAGE', `invalid location: ${why}`, { subject: text });
}

/** `ACCOUNT/NAME/REST` of a URL-like location, refusing queries, fragments and user info. */
function partsOf(text: string, scheme: string): string[] {
  const rest = text.slice(scheme.length + 3);
  if (/[?#@\\]/.test(rest))
    throw bad(
      text,
      'no query, fragment, user or backslash is allowed (credentials come from the environment)',
    );
  return rest.replace(/\/+$/, '').split('/');
}

function prefixOf(text: string, segments: string[]): string {
  if (segments.length === 0) return '';
  const prefix = segments.join('/');
  try {
    return checkBlobKey(prefix);
  } catch {
    throw bad(text, `the prefix '${prefix}' is not a valid key path`);
  }
}

function localPath(text: string, cwd: string): string {
  if (text === '') throw bad(text, 'empty');
  const path = text.startsWith('file://') ? fileURLToPath(text) : text;
  return isAbsolute(path) ? path : resolve(cwd, path);
}

export function parseStoreLocation(text: string, cwd: string = process.cwd()): StoreLocation {
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') return { kind: 'local', path: localPath(text, cwd) };
  const [first = '', second = '', ...rest] = partsOf(text, scheme);
  if (scheme === 'azure') {
    if (!AZURE_ACCOUNT.test(first))
      throw bad(text, 'an Azure storage account name is 3-24 lowercase letters and digits');
    if (!AZURE_CONTAINER.test(second)) {
      throw bad(
        text,
        'write azure://ACCOUNT/CONTAINER[/PREFIX]; a container name is 3-63 lowercase letters, digits and single hyphens',
      );
    }
    return { kind: 'azure', account: first, container: second, prefix: prefixOf(text, rest) };
  }
  if (scheme === 's3') {
    if (!S3_BUCKET.test(first))
      throw bad(
        text,
        'write s3://BUCKET[/PREFIX]; a bucket name is 3-63 lowercase letters, digits, dots and hyphens',
      );
    return { kind: 's3', bucket: first, prefix: prefixOf(text, second === '' ? [] : [second, ...rest]) };
  }
  throw bad(text, `unknown scheme ${scheme}://; use azure://, s3:// or a local path`);
}

export function parseLogLocation(text: string, cwd: string = process.cwd()): LogLocation {
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') return { kind: 'local', path: localPath(text, cwd) };
  if (scheme !== 'azure')
    throw bad(text, `device logs go to azure://ACCOUNT/TABLE or a local SQLite file, not ${scheme}://`);
  const [account = '', table = '', ...rest] = partsOf(text, scheme);
  if (!AZURE_ACCOUNT.test(account))
    throw bad(text, 'an Azure storage account name is 3-24 lowercase letters and digits');
  if (!AZURE_TABLE.test(table) || rest.length > 0) {
    throw bad(
      text,
      'write azure://ACCOUNT/TABLE; a table name is 3-63 letters and digits, starting with a letter',
    );
  }
  return { kind: 'azure', account, table };
}

/** The location as text again (never holds a credential). */
export function formatLocation(location: StoreLocation | LogLocation): string {
  switch (location.kind) {
    case 'local':
      return location.path;
    case 'azure':
      if ('table' in location) return `azure://${location.account}/${location.table}`;
      return `azure://${location.account}/${location.container}${location.prefix ? `/${location.prefix}` : ''}`;
    case 's3':
      return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  }
}

/** A blob store for the location; cloud credentials are looked up now, checked on the first request. */
export async function openBlobStore(location: StoreLocation, env: Env = process.env): Promise<BlobStore> {
  // The cloud SDKs load only when a cloud store is opened: every command reads sihl.json, few go to a cloud.
  switch (location.kind) {
    case 'local':
      return (await import('./local-blob-store.ts')).openLocalBlobStore(location.path);
    case 'azure': {
      const { openAzureBlobStore } = await import('./azure-blob-store.ts');
      const { azureContainerClient } = await import('./azure-connect.ts');
      return openAzureBlobStore({
        container: azureContainerClient(location.account, location.container, env),
        prefix: location.prefix,
      });
    }
    case 's3': {
      const { openS3BlobStore } = await import('./s3-blob-store.ts');
      const { s3ClientFromEnv } = await import('./s3-connect.ts');
      return openS3BlobStore({
        client: s3ClientFromEnv(env),
        bucket: location.bucket,
        prefix: location.prefix,
        ownsClient: true,
      });
    }
  }
}

/** A log store for the location; an Azure table is created if missing (with a key that may do so). */
export async function openLogStore(location: LogLocation, env: Env = process.env): Promise<LogStore> {
  if (location.kind === 'azure') {
    const { azureTableClient } = await import('./azure-connect.ts');
    const { ensureLogTable, openAzureTableLogStore } = await import('./azure-table-log-store.ts');
    const client = azureTableClient(location.account, location.table, env);
    // A SAS that may not create tables can still use one that exists: its first request will tell.
    await ensureLogTable(client).catch((error: unknown) => {
      if ((error as SihlError).code !== 'STORE_DENIED') throw error;
    });
    return openAzureTableLogStore(client);
  }
  const { openSqliteLogStore } = await import('./sqlite-log-store.ts');
  return openSqliteLogStore(location.path);
}
