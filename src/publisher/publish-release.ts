// `sihl release publish`: the policy gate, then into the store: the image (a content-addressed TUF
// target), one key envelope per eligible device (envelope tables), and new targets, snapshot and
// timestamp metadata. The first publication also publishes root version 1.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { equalBytes, wipe } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { streamBinding } from '../core/format/manifest.ts';
import { readSmallFile } from '../core/fs.ts';
import { digestRange, readImage, withFileSource } from '../core/image/index.ts';
import { openContentKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { inRollout } from '../core/rollout.ts';
import { CREDENTIAL_FOLDER, publishCredentials } from './credentials.ts';
import { publishEnvelopes } from './envelopes.ts';
import { requirePolicy } from './gate.ts';
import { nextTopLevel, readPublished, targetEntries } from './published.ts';
import { openRegistry } from './registry.ts';
import type { Release } from './release.ts';
import { HeldKeys, type Passphrases, roleKeys, roleSigners } from './role-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom, tufKeyIdOf } from './tuf/keys.ts';
import { makeRoot, type TopLevelRoles } from './tuf/metadata.ts';
import { publishRepository } from './tuf/publish.ts';
import { signWith } from './tuf/signing.ts';
import { ROLES, type Workspace } from './workspace.ts';

export interface PublishReleaseOptions {
  readonly channel: string;
  /** Percent of the model's devices that get an envelope, picked by a stable hash of id and release. */
  readonly rollout: number;
  readonly passphrases: Passphrases;
  readonly now?: Clock;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Issues a device's renewed log-table SAS (docs/CLOUD.md): each device in the rollout gets it sealed
   * to itself in the release's credential tables. Absent: no credential tables.
   */
  readonly logCredential?: (deviceId: string) => string;
}

export interface PublishReleaseResult {
  readonly target: string;
  readonly targetsVersion: number;
  readonly rootVersion: number;
  readonly envelopes: { readonly devices: number; readonly sealed: number; readonly folder: string } | null;
  readonly credentials: { readonly sealed: number; readonly folder: string } | null;
}

export { inRollout } from '../core/rollout.ts';

async function workspaceRoles(workspace: Workspace): Promise<TopLevelRoles> {
  const roles: Partial<Record<(typeof ROLES)[number], { keys: Uint8Array[]; threshold: number }>> = {};
  for (const role of ROLES)
    roles[role] = {
      keys: await roleKeys(workspace, role),
      threshold: workspace.config.roles[role].threshold,
    };
  return roles as TopLevelRoles;
}

/** The published root still names exactly the workspace's keys and thresholds. */
function rootMatches(root: Metadata<Root>, roles: TopLevelRoles): boolean {
  return ROLES.every((name) => {
    const role = root.signed.roles[name];
    const ids = roles[name].keys.map(tufKeyIdOf).sort();
    return (
      role !== undefined &&
      role.threshold === roles[name].threshold &&
      [...role.keyIDs].sort().join() === ids.join()
    );
  });
}

export async function publishRelease(
  workspace: Workspace,
  release: Release,
  options: PublishReleaseOptions,
): Promise<PublishReleaseResult> {
  if (!Number.isFinite(options.rollout) || options.rollout < 0 || options.rollout > 100) {
    throw new SihlError('USAGE', 'rollout must be a percentage from 0 to 100');
  }
  await requirePolicy(workspace, release, options.channel, {
    contentKeyPassphrase: () =>
      options.passphrases(`${release.info.model}-${release.info.firmwareVersion} content key`),
  });
  const store = workspace.storeDir;
  const now = options.now;
  const expiry = now ? { now } : {};
  const published = await readPublished(store);
  const roles = await workspaceRoles(workspace);

  // Every key is unlocked before any work, so a wrong passphrase costs nothing and leaves nothing behind.
  using held = new HeldKeys();
  const signersOf = async (role: 'root' | 'targets' | 'snapshot' | 'timestamp') =>
    held.hold(await roleSigners(workspace, role, options.passphrases)).map(signerFrom);
  const roots: Metadata<Root>[] = [];
  if (!published.root) {
    roots.push(signWith(makeRoot({ version: 1, roles, ...expiry }), await signersOf('root')));
  } else if (!rootMatches(published.root, roles)) {
    throw new SihlError(
      'USAGE',
      `the workspace keys differ from root version ${published.root.signed.version} in the store; publishing a rotated root is not built yet`,
    );
  }
  const approvers = await signersOf('targets');
  const snapshotSigners = await signersOf('snapshot');
  const timestampSigners = await signersOf('timestamp');

  const { manifest, manifestBytes, size, digest } = await withFileSource(
    release.imagePath,
    async (source) => ({
      ...(await readImage(source)),
      size: source.size,
      digest: await digestRange(source, 0, source.size),
    }),
  );
  const name = `${manifest.model}/${manifest.model}-${manifest.version}.sihl`;
  const earlier = targetEntries(published.targets);
  if (earlier.some((entry) => entry.name === name)) {
    throw new SihlError('FILE_EXISTS', `${name} is published already; published targets never change`);
  }
  const envelopeFolder = `releases/${manifest.model}-${manifest.version}`;
  let envelopes: PublishReleaseResult['envelopes'] = null;
  if (manifest.encryption.algorithm !== 'none') {
    const { key, binding } = await openContentKey(
      await readSmallFile(release.contentKeyPath, LIMITS.keyFileBytes),
      await options.passphrases(`${manifest.model}-${manifest.version} content key`),
    );
    try {
      if (!equalBytes(binding, streamBinding(manifestBytes))) {
        throw new SihlError('ENVELOPE_WRONG_IMAGE', 'the content key belongs to another image', {
          subject: release.contentKeyPath,
        });
      }
      const registry = openRegistry(workspace.registryPath);
      try {
        const result = await publishEnvelopes({
          registry,
          model: manifest.model,
          contentKey: key,
          binding,
          dir: join(store, envelopeFolder),
          rollout: (id) => inRollout(manifest.releaseId, id, options.rollout),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
        envelopes = {
          devices: result.devices,
          sealed: result.sealed,
          folder: `${envelopeFolder}/envelopes/`,
        };
      } finally {
        registry.close();
      }
    } finally {
      wipe(key);
    }
  }

  let credentials: PublishReleaseResult['credentials'] = null;
  if (options.logCredential) {
    const registry = openRegistry(workspace.registryPath);
    try {
      const sealed = await publishCredentials({
        registry,
        model: manifest.model,
        dir: join(store, envelopeFolder),
        issue: options.logCredential,
        rollout: (id) => inRollout(manifest.releaseId, id, options.rollout),
      });
      credentials = { sealed, folder: `${envelopeFolder}/${CREDENTIAL_FOLDER}/` };
    } catch (error) {
      await rm(join(store, envelopeFolder), { recursive: true, force: true });
      throw error;
    } finally {
      registry.close();
    }
  }

  // TUF targets are signed by the approvers (the targets role); snapshot and timestamp by online keys.
  const entry = {
    name,
    length: size,
    sha256: toHex(digest),
    custom: {
      model: manifest.model,
      version: manifest.version,
      securityVersion: manifest.securityVersion,
      channel: options.channel,
      rollout: options.rollout,
      releaseId: toHex(manifest.releaseId),
      ...(envelopes ? { envelopes: envelopes.folder } : {}),
      ...(credentials ? { credentials: credentials.folder } : {}),
    },
  };
  const { targets, snapshot, timestamp } = nextTopLevel(
    published,
    [...earlier, entry],
    { targets: approvers, snapshot: snapshotSigners, timestamp: timestampSigners },
    expiry,
  );
  try {
    await publishRepository(
      store,
      { roots, targets, snapshot, timestamp, contents: [{ name, path: release.imagePath }] },
      now ? { now } : {},
    );
  } catch (error) {
    // Nothing refers to this release's envelopes unless the metadata went out.
    if (envelopes || credentials) await rm(join(store, envelopeFolder), { recursive: true, force: true });
    throw error;
  }
  return {
    target: name,
    targetsVersion: targets.signed.version,
    rootVersion: roots[0]?.signed.version ?? (published.root?.signed.version as number),
    envelopes,
    credentials,
  };
}
