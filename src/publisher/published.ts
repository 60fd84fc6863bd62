// What the store holds now: the newest root, and the targets that timestamp → snapshot → targets
// lead to. Publishing builds the next versions on top of it; the policy gate compares with it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { naming } from '../core/errors.ts';
import { exists } from '../core/fs.ts';
import type { ExpiryOptions } from './tuf/expiry.ts';
import type { Signer } from './tuf/keys.ts';
import {
  type JsonValue,
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metaFileOf,
  parseMetadata,
  type TargetEntry,
} from './tuf/metadata.ts';
import { METADATA_DIR, metadataFilePath, TIMESTAMP_PATH } from './tuf/publish.ts';
import { signWith } from './tuf/signing.ts';

export interface Published {
  readonly root?: Metadata<Root>;
  readonly targets?: Metadata<Targets>;
  readonly snapshotVersion: number;
  readonly timestampVersion: number;
}

async function read(store: string, path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(join(store, path)));
  } catch (error) {
    throw naming(join(store, path), error);
  }
}

export async function readPublished(store: string): Promise<Published> {
  const dir = join(store, METADATA_DIR);
  const roots = ((await exists(dir)) ? await readdir(dir) : [])
    .map((name) => /^(\d+)\.root\.json$/.exec(name)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  if (roots.length === 0) return { snapshotVersion: 0, timestampVersion: 0 };
  const root = parseMetadata('root', await read(store, metadataFilePath('root', Math.max(...roots))));
  if (!(await exists(join(store, TIMESTAMP_PATH)))) return { root, snapshotVersion: 0, timestampVersion: 0 };
  const timestamp = parseMetadata('timestamp', await read(store, TIMESTAMP_PATH));
  const snapshotVersion = timestamp.signed.snapshotMeta.version;
  const snapshot = parseMetadata(
    'snapshot',
    await read(store, metadataFilePath('snapshot', snapshotVersion)),
  );
  const targetsVersion = snapshot.signed.meta['targets.json']?.version ?? 0;
  const targets = parseMetadata('targets', await read(store, metadataFilePath('targets', targetsVersion)));
  return { root, targets, snapshotVersion, timestampVersion: timestamp.signed.version };
}

/** The entries of published targets metadata, to carry into the next version. */
export function targetEntries(targets: Metadata<Targets> | undefined): TargetEntry[] {
  if (!targets) return [];
  return Object.values(targets.signed.targets).map((file) => ({
    name: file.path,
    length: file.length,
    sha256: file.hashes.sha256 as string,
    ...(file.custom ? { custom: file.custom as { [key: string]: JsonValue } } : {}),
  }));
}

/** The newest release published for a model on a channel, as the policy gate wants it. */
export function newestPublished(
  targets: Metadata<Targets> | undefined,
  model: string,
  channel: string,
  compare: (a: string, b: string) => number,
): { version: string; securityVersion: number } | undefined {
  let newest: { version: string; securityVersion: number } | undefined;
  for (const entry of targetEntries(targets)) {
    const c = entry.custom ?? {};
    if (c.model !== model || c.channel !== channel || typeof c.version !== 'string') continue;
    const candidate = { version: c.version, securityVersion: Number(c.securityVersion ?? 0) };
    if (!newest || compare(candidate.version, newest.version) > 0) newest = candidate;
  }
  return newest;
}

export interface TopLevelSigners {
  /** The online rollout key(s): the TUF root's targets role (approvers sign images, not TUF metadata). */
  readonly targets: readonly Signer[];
  readonly snapshot: readonly Signer[];
  readonly timestamp: readonly Signer[];
}

/**
 * The versions that follow what is published: targets listing `entries`, the snapshot naming it and
 * the timestamp naming that, each signed by its role. Publishing, key changes and rollouts all make these.
 */
export function nextTopLevel(
  published: Published,
  entries: readonly TargetEntry[],
  signers: TopLevelSigners,
  expiry: ExpiryOptions = {},
): { targets: Metadata<Targets>; snapshot: Metadata<Snapshot>; timestamp: Metadata<Timestamp> } {
  const targets = signWith(
    makeTargets({ version: (published.targets?.signed.version ?? 0) + 1, targets: [...entries], ...expiry }),
    signers.targets,
  );
  const snapshot = signWith(
    makeSnapshot({ version: published.snapshotVersion + 1, targets: metaFileOf(targets), ...expiry }),
    signers.snapshot,
  );
  const timestamp = signWith(
    makeTimestamp({ version: published.timestampVersion + 1, snapshot: metaFileOf(snapshot), ...expiry }),
    signers.timestamp,
  );
  return { targets, snapshot, timestamp };
}
