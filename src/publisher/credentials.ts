// A release's credential tables: each recipient's renewed log-table SAS, sealed to that device in a
// credential box (src/core/format/credential.ts), laid out as the envelope tables (the same plan, the
// same slots: src/core/format/slot-table.ts), filler where no device is. docs/CLOUD.md describes them.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BOX_PUBLIC_KEY_BYTES, generateBoxKeyPair } from '../core/crypto/box.ts';
import { randomBytes, wipe } from '../core/crypto/sodium.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { CREDENTIAL_BYTES, sealCredential } from '../core/format/credential.ts';
import {
  partCount,
  partLength,
  RECIPIENT_BYTES,
  RECIPIENT_OFFSET,
  SLOTS_PER_PART,
} from '../core/format/slot-table.ts';
import { writeFileAtomic } from '../core/fs.ts';
import type { RecipientPlan } from './recipients.ts';

export const CREDENTIAL_FOLDER = 'credentials';

export interface CredentialTablesOptions {
  /** Who gets a credential and in which slot: the plan the envelope tables were written from. */
  readonly plan: RecipientPlan;
  /** Release folder; the tables go into its credentials/ folder. */
  readonly dir: string;
  /** The SAS query string for a device id. */
  readonly issue: (deviceId: string) => string;
}

/** Writes the tables and returns how many boxes were sealed to devices. Part files are replaced one by one. */
export async function publishCredentials(options: CredentialTablesOptions): Promise<number> {
  const { plan } = options;
  if (plan.deviceIds.length !== plan.recipients)
    throw new SihlError('INTERNAL', 'credential tables need a plan made with deviceIds');
  const folder = join(options.dir, CREDENTIAL_FOLDER);
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw naming(folder, error);
  });
  // Filler is a box of a random SAS-like text sealed to a key pair whose secret half is dropped at once.
  const throwaway = generateBoxKeyPair();
  wipe(throwaway.secretKey);
  try {
    for (let part = 0; part < partCount(plan.slots); part++) {
      const table = new Uint8Array(partLength(part, plan.slots, CREDENTIAL_BYTES));
      for (let i = 0; i < table.length / CREDENTIAL_BYTES; i++) {
        const owner = plan.owner[part * SLOTS_PER_PART + i] as number;
        const at = i * CREDENTIAL_BYTES;
        if (owner < 0) {
          table.set(sealCredential(toHex(randomBytes(150)), throwaway.publicKey), at);
          table.set(randomBytes(RECIPIENT_BYTES), at + RECIPIENT_OFFSET);
          continue;
        }
        const key = plan.keys.subarray(owner * BOX_PUBLIC_KEY_BYTES, (owner + 1) * BOX_PUBLIC_KEY_BYTES);
        table.set(sealCredential(options.issue(plan.deviceIds[owner] as string), key), at);
        table.set(
          plan.ids.subarray(owner * RECIPIENT_BYTES, (owner + 1) * RECIPIENT_BYTES),
          at + RECIPIENT_OFFSET,
        );
      }
      await writeFileAtomic(join(folder, `${part}.bin`), table, { overwrite: true });
    }
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  return plan.recipients;
}
