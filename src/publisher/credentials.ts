// A release's credential tables: each eligible device's renewed log-table SAS, sealed to that device in a
// credential box (src/core/format/credential.ts), at the device's index, in part files laid out like the
// envelope tables (src/core/format/slot-table.ts; empty slots are zeros). docs/CLOUD.md describes them.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { naming } from '../core/errors.ts';
import { CREDENTIAL_BYTES, sealCredential } from '../core/format/credential.ts';
import { checkModel } from '../core/format/manifest.ts';
import { partCount, partLength, partOf, slotOffset } from '../core/format/slot-table.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { READ_BATCH } from './envelopes.ts';
import type { Registry } from './registry.ts';

export const CREDENTIAL_FOLDER = 'credentials';

export interface CredentialTablesOptions {
  readonly registry: Pick<Registry, 'count' | 'eligible'>;
  readonly model: string;
  /** Release folder; the tables go into its credentials/ folder. */
  readonly dir: string;
  /** The SAS query string for a device id. */
  readonly issue: (deviceId: string) => string;
  readonly rollout?: (id: string) => boolean;
}

/** Writes the tables and returns how many boxes were sealed. Part files are replaced atomically one by one. */
export async function publishCredentials(options: CredentialTablesOptions): Promise<number> {
  const model = checkModel(options.model);
  const slots = options.registry.count();
  const folder = join(options.dir, CREDENTIAL_FOLDER);
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw naming(folder, error);
  });
  let sealed = 0;
  let part = -1;
  let table = new Uint8Array(0);
  const flush = async () => {
    if (part >= 0) await writeFileAtomic(join(folder, `${part}.bin`), table, { overwrite: true });
  };
  const open = async (next: number) => {
    // Every part up to the last slot exists, so a device always finds its slot (zero when it has none).
    for (; part < next; ) {
      await flush();
      part += 1;
      table = new Uint8Array(partLength(part, slots, CREDENTIAL_BYTES));
    }
  };
  try {
    walk: for (const rows of options.registry.eligible(model, READ_BATCH)) {
      for (const device of rows) {
        if (device.idx >= slots) break walk;
        if (options.rollout !== undefined && !options.rollout(device.id)) continue;
        await open(partOf(device.idx));
        const box = sealCredential(options.issue(device.id), device.box);
        table.set(box, slotOffset(device.idx, CREDENTIAL_BYTES));
        sealed++;
      }
    }
    await open(partCount(slots) - 1);
    await flush();
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return sealed;
}
