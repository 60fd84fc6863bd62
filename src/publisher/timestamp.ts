// `sihl timestamp refresh`: the timestamp expires in a day, so that a device cut off from new releases
// notices (TUF's freeze attack); a job re-signs it with the online timestamp key, and the snapshot (a
// week) with the online snapshot key when it would lapse first.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SihlError } from '../core/errors.ts';
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { readPublished } from './published.ts';
import type { Passphrases } from './role-keys.ts';
import { HeldKeys, roleSigners } from './role-keys.ts';
import { type Clock, expiresFor } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import { makeSnapshot, makeTimestamp, metaFileOf, parseMetadata } from './tuf/metadata.ts';
import { metadataFilePath, publishRepository } from './tuf/publish.ts';
import { signWith } from './tuf/signing.ts';
import type { Workspace } from './workspace.ts';

export interface TimestampRefresh {
  readonly version: number;
  readonly expires: string;
  readonly snapshotRenewed: boolean;
}

/** Re-signs the timestamp (and a lapsing snapshot) in the staging copy, then mirrors to the store. */
export function refreshTimestamp(
  workspace: Workspace,
  passphrases: Passphrases,
  options: StoreChoice & { readonly now?: Clock } = {},
): Promise<Mirrored<TimestampRefresh>> {
  return mirrored(workspace, options, () => refreshInStaging(workspace, passphrases, options.now));
}

async function refreshInStaging(
  workspace: Workspace,
  passphrases: Passphrases,
  now?: Clock,
): Promise<TimestampRefresh> {
  const store = workspace.storeDir;
  const published = await readPublished(store);
  if (!published.targets || published.snapshotVersion === 0) {
    throw new SihlError('USAGE', 'nothing is published yet: publish a release first');
  }
  let snapshot = parseMetadata(
    'snapshot',
    new Uint8Array(await readFile(join(store, metadataFilePath('snapshot', published.snapshotVersion)))),
  );
  const expiry = now ? { now } : {};
  // A snapshot that would expire while the new timestamp is still valid is re-signed too (online key),
  // or clients would refuse the store once it lapsed, timestamp or not.
  using held = new HeldKeys();
  const renewSnapshot = new Date(snapshot.signed.expires) <= new Date(expiresFor('timestamp', expiry));
  if (renewSnapshot) {
    const targetsMeta = snapshot.signed.meta['targets.json'];
    if (!targetsMeta)
      throw new SihlError('TUF_METADATA_INCONSISTENT', 'the published snapshot lists no targets');
    const signers = held.hold(await roleSigners(workspace, 'snapshot', passphrases)).map(signerFrom);
    snapshot = signWith(
      makeSnapshot({
        version: snapshot.signed.version + 1,
        targets: {
          version: targetsMeta.version,
          length: targetsMeta.length as number,
          sha256: targetsMeta.hashes?.sha256 as string,
        },
        ...expiry,
      }),
      signers,
    );
  }
  const signed = signWith(
    makeTimestamp({ version: published.timestampVersion + 1, snapshot: metaFileOf(snapshot), ...expiry }),
    held.hold(await roleSigners(workspace, 'timestamp', passphrases)).map(signerFrom),
  );
  await publishRepository(
    store,
    { roots: [], targets: published.targets, snapshot, timestamp: signed },
    now ? { now } : {},
  );
  return { version: signed.signed.version, expires: signed.signed.expires, snapshotRenewed: renewSnapshot };
}
