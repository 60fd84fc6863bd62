// `sihl timestamp refresh`: the timestamp expires in a day, so that a device cut off from new releases
// notices (TUF's freeze attack); a job re-signs it with the online timestamp key, pointing at the same
// snapshot.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SihlError } from '../core/errors.ts';
import { readPublished } from './published.ts';
import type { Passphrases } from './role-keys.ts';
import { roleSigners } from './role-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import { makeTimestamp, metaFileOf, parseMetadata } from './tuf/metadata.ts';
import { metadataFilePath, publishRepository } from './tuf/publish.ts';
import { signWith } from './tuf/signing.ts';
import type { Workspace } from './workspace.ts';

export async function refreshTimestamp(
  workspace: Workspace,
  passphrases: Passphrases,
  now?: Clock,
): Promise<{ version: number; expires: string }> {
  const store = workspace.storeDir;
  const published = await readPublished(store);
  if (!published.targets || published.snapshotVersion === 0) {
    throw new SihlError('USAGE', 'nothing is published yet: publish a release first');
  }
  const snapshot = parseMetadata(
    'snapshot',
    new Uint8Array(await readFile(join(store, metadataFilePath('snapshot', published.snapshotVersion)))),
  );
  const signers = (await roleSigners(workspace, 'timestamp', passphrases)).map(signerFrom);
  const expiry = now ? { now } : {};
  const timestamp = signWith(
    makeTimestamp({ version: published.timestampVersion + 1, snapshot: metaFileOf(snapshot), ...expiry }),
    signers,
  );
  await publishRepository(
    store,
    { roots: [], targets: published.targets, snapshot, timestamp },
    now ? { now } : {},
  );
  return { version: timestamp.signed.version, expires: timestamp.signed.expires };
}
