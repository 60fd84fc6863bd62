// `sihl release publish`: the policy gate, then into the store: the image (a content-addressed TUF
// target), one key envelope per eligible device (envelope tables), and new targets, snapshot and
// timestamp metadata, signed by the online keys. TUF roots the store lacks are copied from trust/tuf.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from '../core/crash-points.ts';
import { equalBytes, wipe } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { type Manifest, streamBinding } from '../core/format/manifest.ts';
import { targetNameOf } from '../core/format/target.ts';
import { digestRange, readImage, withFileSource } from '../core/image/index.ts';
import { inRollout } from '../core/rollout.ts';
import type { Env } from '../storage/locations.ts';
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { ContentKeyOnce, type ContentKeySource } from './content-key.ts';
import { CREDENTIAL_FOLDER, publishCredentials } from './credentials.ts';
import { publishEnvelopes } from './envelopes.ts';
import { requirePolicy } from './gate.ts';
import { nextTopLevel, type Published, readPublished, targetEntries } from './published.ts';
import { planRecipients, type RecipientPlan, recipientFields } from './recipients.ts';
import { openRegistry } from './registry.ts';
import type { Release } from './release.ts';
import { askingOnce, HeldKeys, type Passphrases, roleSigners } from './role-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import type { TargetEntry } from './tuf/metadata.ts';
import { publishRepository } from './tuf/publish.ts';
import { rootsToPublish } from './tuf-roots.ts';
import type { OnlineRole, Workspace } from './workspace.ts';

/** The log SAS issuer when device logs are in an Azure table; its account key comes from `env`. */
export async function logCredentialIssuer(
  workspace: Workspace,
  env: Env,
): Promise<((deviceId: string) => string) | undefined> {
  const location = workspace.logLocation;
  if (location?.kind !== 'azure') return undefined;
  const { deviceLogIssuer } = await import('../storage/device-log-credential.ts');
  const issuer = await deviceLogIssuer(location, env);
  return (deviceId) => issuer.issue(deviceId).sas;
}

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
  /** What the operator should know that is no error, e.g. a published image damaged in the store. */
  readonly onNotice?: (text: string) => void;
}

export interface PublishReleaseResult {
  readonly target: string;
  readonly targetsVersion: number;
  readonly rootVersion: number;
  readonly envelopes: { readonly devices: number; readonly sealed: number; readonly folder: string } | null;
  readonly credentials: { readonly sealed: number; readonly folder: string } | null;
}

export { inRollout } from '../core/rollout.ts';

/**
 * Every key publishing needs, unlocked before any work: a wrong passphrase costs nothing, leaves nothing.
 * Online keys only (rollout, snapshot, timestamp): TUF roots come signed from trust/tuf, and the image
 * carries its approvers' signatures.
 */
async function unlockSigners(
  workspace: Workspace,
  published: Published,
  options: PublishReleaseOptions,
  held: HeldKeys,
) {
  const roots = await rootsToPublish(workspace, published);
  const signersOf = async (role: OnlineRole) =>
    held.hold(await roleSigners(workspace, role, options.passphrases)).map(signerFrom);
  return {
    roots,
    signers: {
      targets: await signersOf('rollout'),
      snapshot: await signersOf('snapshot'),
      timestamp: await signersOf('timestamp'),
    },
  };
}

/** One envelope per eligible device, the content key sealed to it (docs/FORMAT.md §Envelope tables). */
async function sealEnvelopes(
  workspace: Workspace,
  release: Release,
  image: ReleaseImage,
  options: PublishReleaseOptions & { readonly contentKey: ContentKeySource },
  plan: RecipientPlan,
): Promise<PublishReleaseResult['envelopes']> {
  if (image.manifest.encryption.algorithm === 'none') return null;
  const { key, binding } = await options.contentKey();
  try {
    if (!equalBytes(binding, streamBinding(image.manifestBytes))) {
      throw new SihlError('ENVELOPE_WRONG_IMAGE', 'the content key belongs to another image', {
        subject: release.contentKeyPath,
      });
    }
    const result = await publishEnvelopes({
      plan,
      contentKey: key,
      binding,
      dir: join(workspace.storeDir, image.folder),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { devices: result.devices, sealed: result.sealed, folder: `${image.folder}/envelopes/` };
  } finally {
    wipe(key);
  }
}

/** Each device's renewed log SAS, sealed to it, beside the envelopes (docs/CLOUD.md). */
async function sealCredentials(
  workspace: Workspace,
  image: ReleaseImage,
  plan: RecipientPlan,
  issue: ((deviceId: string) => string) | undefined,
): Promise<PublishReleaseResult['credentials']> {
  if (!issue) return null;
  const sealed = await publishCredentials({ plan, dir: join(workspace.storeDir, image.folder), issue });
  return { sealed, folder: `${image.folder}/${CREDENTIAL_FOLDER}/` };
}

/** Who this publication is for, and the revoked it names (recipients.ts). */
function planFor(
  workspace: Workspace,
  image: ReleaseImage,
  options: PublishReleaseOptions,
  credentials: boolean,
): RecipientPlan {
  const registry = openRegistry(workspace.registryPath);
  try {
    return planRecipients({
      registry,
      model: image.manifest.model,
      rollout: (id) => inRollout(image.manifest.releaseId, id, options.rollout),
      tables: image.manifest.encryption.algorithm !== 'none' || credentials,
      deviceIds: credentials,
    });
  } finally {
    registry.close();
  }
}

interface ReleaseImage {
  readonly manifest: Manifest;
  readonly manifestBytes: Uint8Array;
  readonly size: number;
  readonly digest: Uint8Array;
  /** The TUF target name, e.g. movehub/movehub-7.28.0.sihl. */
  readonly name: string;
  /** The store folder of the release's envelope and credential tables. */
  readonly folder: string;
}

async function readReleaseImage(release: Release): Promise<ReleaseImage> {
  const read = await withFileSource(release.imagePath, async (source) => ({
    ...(await readImage(source)),
    size: source.size,
    digest: await digestRange(source, 0, source.size),
  }));
  const { model, version } = read.manifest;
  return { ...read, name: targetNameOf(model, version), folder: `releases/${model}-${version}` };
}

/** The release's entry in the targets metadata (the custom fields: src/core/format/target-custom.ts). */
function targetEntry(
  image: ReleaseImage,
  options: PublishReleaseOptions,
  tables: Pick<PublishReleaseResult, 'envelopes' | 'credentials'>,
  plan: RecipientPlan,
): TargetEntry {
  const { manifest } = image;
  return {
    name: image.name,
    length: image.size,
    sha256: toHex(image.digest),
    custom: {
      model: manifest.model,
      version: manifest.version,
      securityVersion: manifest.securityVersion,
      channel: options.channel,
      rollout: options.rollout,
      releaseId: toHex(manifest.releaseId),
      ...(tables.envelopes ? { envelopes: tables.envelopes.folder } : {}),
      ...(tables.credentials ? { credentials: tables.credentials.folder } : {}),
      ...recipientFields(plan),
    },
  };
}

/**
 * A published image that no longer matches its signed hashes does not stop a publication (nor a halt):
 * devices refuse it and report TARGET_MISMATCH. The operator is told, once per publish.
 */
function damagedNotice(damaged: { name: string; problem: string }): string {
  return (
    `published image ${damaged.name} is damaged: ${damaged.problem}; devices refuse it and report ` +
    `TARGET_MISMATCH: copy the published bytes back (its release's image.sihl, if unchanged) or halt its rollout`
  );
}

/** The staging copy only: the image, its envelope and credential tables, new TUF metadata. */
async function publishIntoStaging(
  workspace: Workspace,
  release: Release,
  given: PublishReleaseOptions,
  issue: ((deviceId: string) => string) | undefined,
): Promise<PublishReleaseResult> {
  const passphrases = askingOnce(given.passphrases);
  if (!Number.isFinite(given.rollout) || given.rollout < 0 || given.rollout > 100) {
    throw new SihlError('USAGE', 'rollout must be a percentage from 0 to 100');
  }
  // Derived once (Argon2id) for the gate's unpacking and the sealing; wiped when publishing ends.
  using contentKey = new ContentKeyOnce(release.contentKeyPath, () =>
    passphrases(`${release.info.model}-${release.info.firmwareVersion} content key`),
  );
  const options = { ...given, passphrases, contentKey: contentKey.copy };
  await requirePolicy(workspace, release, options.channel, { contentKey: contentKey.copy });
  const store = workspace.storeDir;
  const expiry = options.now ? { now: options.now } : {};
  const published = await readPublished(store);
  // The unlocked keys are wiped (or their token sessions closed) when publishing ends, also on error.
  using held = new HeldKeys();
  const { roots, signers } = await unlockSigners(workspace, published, options, held);
  const image = await readReleaseImage(release);
  const earlier = targetEntries(published.targets);
  if (earlier.some((entry) => entry.name === image.name)) {
    throw new SihlError('FILE_EXISTS', `${image.name} is published already; published targets never change`);
  }
  // Nothing refers to this release's tables unless the metadata went out; the first error is the one told.
  const dropTables = () => rm(join(store, image.folder), { recursive: true, force: true }).catch(() => {});
  try {
    const plan = planFor(workspace, image, options, issue !== undefined);
    const envelopes = await sealEnvelopes(workspace, release, image, options, plan);
    const credentials = await sealCredentials(workspace, image, plan, issue);
    await crashPoint('sealed tables');
    const entry = targetEntry(image, options, { envelopes, credentials }, plan);
    // TUF targets, snapshot and timestamp are signed by online keys; the image by its approvers.
    const next = nextTopLevel(published, [...earlier, entry], signers, expiry);
    const written = await publishRepository(
      store,
      { roots, ...next, contents: [{ name: image.name, path: release.imagePath }] },
      { ...expiry, checkCarried: true },
    );
    for (const damaged of written.damaged) options.onNotice?.(damagedNotice(damaged));
    return {
      target: image.name,
      targetsVersion: next.targets.signed.version,
      rootVersion: roots.at(-1)?.signed.version ?? (published.root?.signed.version as number),
      envelopes,
      credentials,
    };
  } catch (error) {
    await dropTables();
    throw error;
  }
}

/**
 * `sihl release publish`: the gate, the staging copy, then the configured store. With device logs in an
 * Azure table (sihl.json "log"), every device in the rollout gets its log SAS renewed.
 */
export async function publishRelease(
  workspace: Workspace,
  release: Release,
  options: PublishReleaseOptions & StoreChoice,
): Promise<Mirrored<PublishReleaseResult>> {
  const issue = options.logCredential ?? (await logCredentialIssuer(workspace, options.env ?? process.env));
  return mirrored(workspace, options, () => publishIntoStaging(workspace, release, options, issue));
}
