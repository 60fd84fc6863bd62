// Shared set-up of the cloud end-to-end tests: one TLS certificate for 127.0.0.1 that the emulators
// serve and that this process (the publisher's SDKs) and the devices (pinned) trust; and a workspace,
// made through the CLI, with three simulated movehubs on Pybricks 7.27.0 and 7.28.0 approved by two.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { AzureNamedKeyCredential, TableClient } from '@azure/data-tables';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { makeServerCertificate } from '../../src/core/crypto/certificate.ts';
import { tempDir } from '../helpers.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite, startAzurite } from '../support/azurite.ts';
import { approveBy, INIT, PASSPHRASE, ROOT_KEY, releaseCreate, sihl } from '../support/cli.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { type S3Server, startS3rver } from '../support/s3rver.ts';

/**
 * The emulators' certificate. The publisher in this process trusts it as a CA added to the defaults
 * (what NODE_EXTRA_CA_CERTS does for a private CA in real life); devices pin it.
 */
export async function emulatorCertificate(): Promise<{ key: string; cert: string }> {
  const { key, cert } = await makeServerCertificate({ days: 2 });
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), cert]);
  return { key, cert };
}

export interface Emulators {
  readonly certificate: { readonly key: string; readonly cert: string };
  readonly azurite: Azurite;
  /** What the publisher's SDKs read to reach the emulators. */
  readonly env: Record<string, string>;
}

/** Azurite and, when buckets are named, an s3rver with them, both over TLS with the emulators' certificate. */
export async function startEmulators(): Promise<Emulators>;
export async function startEmulators(buckets: string[]): Promise<Emulators & { readonly s3: S3Server }>;
export async function startEmulators(buckets?: string[]): Promise<Emulators & { readonly s3?: S3Server }> {
  const certificate = await emulatorCertificate();
  const s3 = buckets ? await startS3rver(buckets, { tls: certificate }) : undefined;
  const azurite = await startAzurite({ tls: certificate });
  const env = { ...s3?.env, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
  return s3 ? { certificate, s3, azurite, env } : { certificate, azurite, env };
}

/** The Azure table `name` on Azurite, with the account's shared key (the operator's access). */
export function logTable(azurite: { readonly tableEndpoint: string }, name: string): TableClient {
  return new TableClient(
    azurite.tableEndpoint,
    name,
    new AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
}

export const WS = ['--workspace', 'acme'];

const SHARED_KEY = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);

export interface CloudFleet {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly devices: { readonly dir: string; readonly idx: number; readonly id: string }[];
}

/** `sihl ARGS` that must succeed; JSON output parsed. */
export async function run(fleet: { cwd: string; env: Record<string, string> }, args: string[]) {
  const r = await sihl(fleet.cwd, [...args, '--json'], fleet.env);
  assert.equal(r.code, 0, `sihl ${args.join(' ')} failed: ${r.err}${r.out}`);
  return JSON.parse(r.out);
}

/**
 * `sihl sim device configure` for `device` reading the store at `server` over TLS pinned to store.pem,
 * reporting to the Azure table `logTable` (an https URL) with its sealed log credential when given.
 */
export async function configureDevice(
  fleet: CloudFleet,
  device: { readonly dir: string; readonly idx: number },
  server: string,
  logTable?: string,
): Promise<void> {
  const log = logTable ? ['--log-table', logTable, '--log-credential', `${device.dir}.log-credential`] : [];
  await run(fleet, [
    ...['sim', 'device', 'configure', device.dir, '--server', server, '--certificate', 'store.pem'],
    ...['--root', 'acme/store/metadata/1.root.json', '--index', String(device.idx), ...log],
  ]);
}

/**
 * A workspace whose sihl.json names `store` (and `log`, when given), three devices provisioned (each
 * with its sealed log credential when there is a log table), and release 7.28.0 created and approved.
 */
export async function makeCloudFleet(options: {
  readonly env: Record<string, string>;
  readonly store: string;
  readonly log?: string;
  readonly count?: number;
}): Promise<CloudFleet> {
  const cwd = await tempDir();
  const fleet = {
    cwd,
    env: { SIHL_PASSPHRASE: PASSPHRASE, ...options.env },
    devices: [] as CloudFleet['devices'],
  };
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await writeFile(join(cwd, 'new.bin'), await pybricksFirmware(PYBRICKS, 'movehub'));
  await run(fleet, [...INIT]);
  const configPath = join(cwd, 'acme', 'sihl.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  await writeFile(
    configPath,
    JSON.stringify(
      { ...config, store: options.store, ...(options.log ? { log: options.log } : {}) },
      null,
      2,
    ),
  );
  await run(fleet, ['keys', 'add', '--role', 'targets', '--name', 'alice', ...ROOT_KEY, ...WS]);
  await run(fleet, ['keys', 'add', '--role', 'targets', '--name', 'bob', ...ROOT_KEY, ...WS]);
  for (let n = 1; n <= (options.count ?? 3); n++) {
    const dir = `hub-${n}`;
    await run(fleet, [
      ...['sim', 'device', 'create', dir, '--model', 'movehub', '--root', 'acme/trust/root.json'],
      ...['--firmware', 'old.bin', '--version', '7.27.0'],
    ]);
    await writeFile(
      join(cwd, `${dir}.id.json`),
      JSON.stringify(await run(fleet, ['sim', 'device', 'identity', dir])),
    );
    const credential = options.log ? ['--log-credential', `${dir}.log-credential`] : [];
    const device = await run(fleet, [
      ...['device', 'provision', '--identity', `${dir}.id.json`, '--owner', 'ACME', ...credential, ...WS],
    ]);
    fleet.devices.push({ dir, idx: device.idx, id: device.id });
  }
  await run(fleet, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...WS]);
  await approveBy((args) => run(fleet, args), 'movehub-7.28.0', ['alice', 'bob'], WS);
  return fleet;
}

/** The operator's one-time Azure set-up on Azurite: a private container (when named) and a log table. */
export async function provisionAzure(
  azurite: { readonly blobEndpoint: string; readonly tableEndpoint: string },
  parts: { readonly container?: string; readonly table?: string },
): Promise<void> {
  if (parts.container)
    await new BlobServiceClient(azurite.blobEndpoint, SHARED_KEY)
      .getContainerClient(parts.container)
      .create();
  if (parts.table) {
    await logTable(azurite, parts.table)
      .createTable()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 409) throw error; // made by another test of the file
      });
  }
}

/** What devices get to read a container: read permission only, for a day. */
export function readOnlySas(container: string): string {
  return generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 86_400_000),
    },
    SHARED_KEY,
  ).toString();
}
