// Azure Storage clients for an account named in a location, with the endpoint and credential taken from
// the environment the way Azure's own tools read it. Secrets stay in the clients: no message names them.
import { AzureNamedKeyCredential, AzureSASCredential, TableClient } from '@azure/data-tables';
import { AnonymousCredential, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { SihlError } from '../core/errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;
export type AzureService = 'blob' | 'table';

const ENDPOINT_VARIABLES = { blob: 'SIHL_AZURE_BLOB_ENDPOINT', table: 'SIHL_AZURE_TABLE_ENDPOINT' };
const CONNECTION_ENDPOINT_KEYS = { blob: 'BlobEndpoint', table: 'TableEndpoint' };
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

type AzureCredential = { kind: 'key'; key: string } | { kind: 'sas'; token: string };

interface AzureAccess {
  readonly endpoint: string;
  readonly credential: AzureCredential;
}

function parseConnectionString(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return fields;
}

function checkEndpoint(endpoint: string, source: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new SihlError('USAGE', `${source} is not a URL`);
  }
  // Plain HTTP would carry SAS tokens in the clear: only for an emulator on this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new SihlError('USAGE', `${source} must be an https URL (http only on 127.0.0.1 or localhost)`);
  }
  if (url.search !== '' || url.username !== '' || url.password !== '') {
    throw new SihlError(
      'USAGE',
      `${source} must not hold a query or credentials; use AZURE_STORAGE_SAS_TOKEN`,
    );
  }
  return endpoint.replace(/\/+$/, '');
}

/** Endpoint and credential for `account`'s `service`; STORE_CREDENTIALS_MISSING names what to set. */
export function azureAccess(account: string, service: AzureService, env: Env): AzureAccess {
  const connection = env.AZURE_STORAGE_CONNECTION_STRING;
  let endpoint = env[ENDPOINT_VARIABLES[service]];
  let endpointSource = ENDPOINT_VARIABLES[service];
  let credential: AzureCredential | undefined;
  if (connection) {
    const fields = parseConnectionString(connection);
    const named = fields.get('AccountName');
    if (named !== undefined && named !== account) {
      throw new SihlError(
        'USAGE',
        `AZURE_STORAGE_CONNECTION_STRING is for account ${named}, not for ${account} of the location`,
      );
    }
    const key = fields.get('AccountKey');
    const sas = fields.get('SharedAccessSignature');
    if (key) credential = { kind: 'key', key };
    else if (sas) credential = { kind: 'sas', token: sas };
    if (endpoint === undefined) {
      const suffix = fields.get('EndpointSuffix');
      const protocol = fields.get('DefaultEndpointsProtocol') ?? 'https';
      endpoint =
        fields.get(CONNECTION_ENDPOINT_KEYS[service]) ??
        (suffix === undefined ? undefined : `${protocol}://${account}.${service}.${suffix}`);
      endpointSource = `the ${CONNECTION_ENDPOINT_KEYS[service]} of AZURE_STORAGE_CONNECTION_STRING`;
    }
  }
  if (credential === undefined && env.AZURE_STORAGE_SAS_TOKEN) {
    credential = { kind: 'sas', token: env.AZURE_STORAGE_SAS_TOKEN };
  }
  if (credential === undefined && env.AZURE_STORAGE_KEY) {
    if (env.AZURE_STORAGE_ACCOUNT && env.AZURE_STORAGE_ACCOUNT !== account) {
      throw new SihlError(
        'USAGE',
        `AZURE_STORAGE_KEY is for account ${env.AZURE_STORAGE_ACCOUNT}, not ${account}`,
      );
    }
    credential = { kind: 'key', key: env.AZURE_STORAGE_KEY };
  }
  if (credential === undefined) {
    throw new SihlError(
      'STORE_CREDENTIALS_MISSING',
      `no credential for Azure storage account ${account}: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN`,
    );
  }
  if (endpoint === undefined) {
    endpoint = `https://${account}.${service}.core.windows.net`;
    endpointSource = 'the endpoint';
  }
  return { endpoint: checkEndpoint(endpoint, endpointSource), credential };
}

function withSas(url: string, token: string): string {
  return `${url}?${token.replace(/^\?/, '')}`;
}

export function azureContainerClient(account: string, container: string, env: Env): ContainerClient {
  const { endpoint, credential } = azureAccess(account, 'blob', env);
  const url = `${endpoint}/${encodeURIComponent(container)}`;
  return credential.kind === 'key'
    ? new ContainerClient(url, new StorageSharedKeyCredential(account, credential.key))
    : new ContainerClient(withSas(url, credential.token), new AnonymousCredential());
}

export function azureTableClient(account: string, table: string, env: Env): TableClient {
  const { endpoint, credential } = azureAccess(account, 'table', env);
  const options = { allowInsecureConnection: endpoint.startsWith('http:') };
  return credential.kind === 'key'
    ? new TableClient(endpoint, table, new AzureNamedKeyCredential(account, credential.key), options)
    : new TableClient(endpoint, table, new AzureSASCredential(credential.token.replace(/^\?/, '')), options);
}

/** A table client that holds nothing but a SAS, as a device does; `endpoint` as in checkEndpoint. */
export function azureTableClientWithSas(endpoint: string, table: string, sas: string): TableClient {
  const url = checkEndpoint(endpoint, 'the table endpoint');
  const options = { allowInsecureConnection: url.startsWith('http:') };
  return new TableClient(url, table, new AzureSASCredential(sas.replace(/^\?/, '')), options);
}
