// The checks a repository passes before it is published: every step a client will take (spec §5.3–5.6)
// is taken here first, so a publish that would leave devices unable to update fails on the vendor side.
import type { Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { SihlError } from '../../core/errors.ts';
import { type AnyMetadata, type MetaFileDescription, metaFileOf, serialize } from './metadata.ts';
import { checkRootSuccession, checkThreshold } from './signing.ts';

/** A repository's current metadata, and every root version not yet published (oldest first). */
export interface Repository {
  readonly roots: readonly Metadata<Root>[];
  readonly targets: Metadata<Targets>;
  readonly snapshot: Metadata<Snapshot>;
  readonly timestamp: Metadata<Timestamp>;
}

/**
 * Sizes the stock tuf-js client (6.x defaultConfig) refuses above. Snapshot and targets are fetched with
 * the length their referrer states, so only root and timestamp have fixed ceilings.
 */
export const CLIENT_LIMITS = {
  rootBytes: 512_000,
  timestampBytes: 16_384,
} as const;

function checkNotExpired(metadata: AnyMetadata, what: string, now: Date): void {
  if (metadata.signed.isExpired(now)) {
    throw new SihlError(
      'TUF_METADATA_EXPIRED',
      `${what} expired at ${metadata.signed.expires}; sign it again before publishing`,
    );
  }
}

function checkDescribes(
  actual: MetaFileDescription,
  stated: Partial<MetaFileDescription>,
  what: string,
): void {
  const statedHash = stated.sha256;
  const matches =
    actual.version === stated.version && actual.length === stated.length && actual.sha256 === statedHash;
  if (!matches) {
    throw new SihlError(
      'TUF_METADATA_INCONSISTENT',
      `${what} names version ${stated.version} (${stated.length} bytes), not the version ${actual.version} (${actual.length} bytes) being published`,
    );
  }
}

function checkSize(metadata: AnyMetadata, limit: number, what: string): void {
  const length = serialize(metadata).length;
  if (length > limit) {
    throw new SihlError('LIMIT_EXCEEDED', `${what} is ${length} bytes; clients accept at most ${limit}`);
  }
}

/**
 * Throws unless clients that trust `previousRoot` (or nothing, when the first is version 1) would walk
 * to every root in `roots` and accept the last one at time `now`. Returns that root.
 */
export function checkRoots(
  roots: readonly Metadata<Root>[],
  previousRoot: Metadata<Root> | undefined,
  now: Date,
): Metadata<Root> {
  const root = roots.at(-1) ?? previousRoot;
  if (!root) throw new SihlError('USAGE', 'a repository needs root metadata');
  let trusted = previousRoot;
  for (const next of roots) {
    checkSize(next, CLIENT_LIMITS.rootBytes, `root version ${next.signed.version}`);
    if (trusted) {
      checkRootSuccession(trusted, next);
    } else if (next.signed.version === 1) {
      // §5.2: the first root is trusted out of band, but must still be signed by its own threshold.
      checkThreshold(next.signed, 'root', next, 'root version 1');
    } else {
      throw new SihlError(
        'USAGE',
        `root version ${next.signed.version - 1} is not published, so clients cannot reach ${next.signed.version}`,
      );
    }
    trusted = next;
  }
  // §7: sihl's layout is consistent snapshots only.
  if (!root.signed.consistentSnapshot) throw new SihlError('USAGE', 'root must set consistent_snapshot');
  // §5.3.10: the final root must not be expired.
  checkNotExpired(root, `root version ${root.signed.version}`, now);
  return root;
}

/**
 * Throws unless clients that trust `previousRoot` (or nothing, when the first root is version 1) would
 * accept every root in `roots` and then the timestamp, snapshot and targets, at time `now`.
 */
export function checkRepository(
  repository: Repository,
  previousRoot: Metadata<Root> | undefined,
  now: Date,
): void {
  const { targets, snapshot, timestamp } = repository;
  const root = checkRoots(repository.roots, previousRoot, now);

  // §5.4.2 and §5.4.4: timestamp signed by its role and fresh.
  checkSize(timestamp, CLIENT_LIMITS.timestampBytes, 'timestamp');
  checkThreshold(root.signed, 'timestamp', timestamp, 'timestamp');
  checkNotExpired(timestamp, 'timestamp', now);
  // §5.5.2 and §5.5.4: the snapshot is the one the timestamp names, byte for byte.
  const stated = timestamp.signed.snapshotMeta;
  checkDescribes(metaFileOf(snapshot), { ...stated, sha256: stated.hashes?.sha256 }, 'timestamp');
  // §5.5.3 and §5.5.6: snapshot signed by its role and fresh.
  checkThreshold(root.signed, 'snapshot', snapshot, 'snapshot');
  checkNotExpired(snapshot, 'snapshot', now);
  // §5.6.2 and §5.6.4: targets is the one the snapshot names, byte for byte.
  const targetsMeta = snapshot.signed.meta['targets.json'];
  if (!targetsMeta) throw new SihlError('TUF_METADATA_INCONSISTENT', 'snapshot does not list targets.json');
  checkDescribes(metaFileOf(targets), { ...targetsMeta, sha256: targetsMeta.hashes?.sha256 }, 'snapshot');
  // §5.6.3 and §5.6.5: targets signed by a threshold of its role (the online rollout key) and fresh.
  checkThreshold(root.signed, 'targets', targets, 'targets');
  checkNotExpired(targets, 'targets', now);
}
