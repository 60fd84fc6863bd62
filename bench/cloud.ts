// Publishing to cloud stores (issue 6): how fast `release publish` mirrors its staging folder to Azure Blob
// Storage (Azurite) and to S3 (s3rver), both on loopback, for a 16 MiB image, for the envelope tables of
// 100,000 devices and for their credential tables (renewed log SAS). Each upload goes to a fresh prefix
// through src/storage/mirror.ts, exactly as publishing does, three times; the median counts.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BlobServiceClient } from '@azure/storage-blob';
import { randomBytes } from '../src/core/crypto/index.ts';
import { CREDENTIAL_BYTES } from '../src/core/format/credential.ts';
import { ENVELOPE_BYTES } from '../src/core/format/envelope.ts';
import { SLOTS_PER_PART as ENVELOPES_PER_PART } from '../src/core/format/slot-table.ts';
import { openBlobStore, parseStoreLocation } from '../src/storage/locations.ts';
import { mirrorStore } from '../src/storage/mirror.ts';
import { launchAzurite } from '../test/support/azurite.ts';
import { launchS3rver } from '../test/support/s3rver.ts';

const MIB = 1024 * 1024;
export const CLOUD_DEVICES = 100_000;
const IMAGE_BYTES = 16 * MIB;
const RUNS = 3;

export interface CloudRow {
  readonly store: string;
  readonly what: string;
  readonly files: number;
  readonly bytes: number;
  /** Median of the runs. */
  readonly seconds: number;
}

export interface CloudRun {
  readonly devices: number;
  readonly rows: CloudRow[];
}

/** Part files of `slotBytes` slots for `devices` devices, filled with random bytes (as sealed boxes are). */
async function tables(folder: string, devices: number, slotBytes: number): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (let part = 0; part * ENVELOPES_PER_PART < devices; part++) {
    const slots = Math.min(ENVELOPES_PER_PART, devices - part * ENVELOPES_PER_PART);
    await writeFile(join(folder, `${part}.bin`), randomBytes(slots * slotBytes));
  }
}

export async function benchCloud(dir: string, log: (line: string) => void): Promise<CloudRun> {
  const root = join(dir, 'cloud');
  const inputs = {
    image: join(root, 'image'),
    envelopes: join(root, 'envelopes'),
    credentials: join(root, 'credentials'),
  };
  log('cloud: writing the staging folders');
  await mkdir(join(inputs.image, 'targets', 'movehub'), { recursive: true });
  await writeFile(join(inputs.image, 'targets', 'movehub', 'image.sihl'), randomBytes(IMAGE_BYTES));
  await tables(
    join(inputs.envelopes, 'releases', 'movehub-1.0.0', 'envelopes'),
    CLOUD_DEVICES,
    ENVELOPE_BYTES,
  );
  await tables(
    join(inputs.credentials, 'releases', 'movehub-1.0.0', 'credentials'),
    CLOUD_DEVICES,
    CREDENTIAL_BYTES,
  );

  const stops: (() => Promise<void>)[] = [];
  const rows: CloudRow[] = [];
  try {
    log('cloud: starting Azurite and s3rver');
    const azurite = await launchAzurite({}, (stop) => stops.push(stop));
    const s3 = await launchS3rver(['bench'], {}, (stop) => stops.push(stop));
    const azureEnv = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient('bench')
      .create();
    const stores = [
      { name: 'Azure Blob Storage (Azurite)', location: 'azure://devstoreaccount1/bench', env: azureEnv },
      { name: 'S3 (s3rver)', location: 's3://bench', env: s3.env },
    ];
    const what = {
      image: 'the 16 MiB image',
      envelopes: `envelope tables, ${CLOUD_DEVICES.toLocaleString('en-US')} devices`,
      credentials: `credential tables, ${CLOUD_DEVICES.toLocaleString('en-US')} devices`,
    };
    let prefix = 0;
    for (const store of stores) {
      for (const input of ['image', 'envelopes', 'credentials'] as const) {
        const times: number[] = [];
        let result = { files: 0, bytes: 0 };
        for (let run = 0; run < RUNS; run++) {
          const target = await openBlobStore(
            parseStoreLocation(`${store.location}/run${++prefix}`),
            store.env,
          );
          const started = performance.now();
          const mirrored = await mirrorStore(inputs[input], target);
          times.push((performance.now() - started) / 1000);
          await target.close();
          result = { files: mirrored.uploaded.length, bytes: mirrored.bytes };
        }
        const seconds = [...times].sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number;
        log(`cloud: ${store.name}, ${what[input]}: ${seconds.toFixed(2)} s`);
        rows.push({ store: store.name, what: what[input], ...result, seconds });
      }
    }
  } finally {
    for (const stop of stops) await stop();
    await rm(root, { recursive: true, force: true });
  }
  return { devices: CLOUD_DEVICES, rows };
}
