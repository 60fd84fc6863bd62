// What a rollout change publishes (docs/ROLLOUTS.md): the envelope tables of a new cohort, each sealing
// in a folder of its own, and the next targets, snapshot and timestamp in which only the release's entry
// changed. rollout-publish.ts decides when; this writes into the staging copy.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { wipe } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { fromHex } from '../core/format/bytes.ts';
import { releaseNameOf } from '../core/format/target.ts';
import { readSmallFile } from '../core/fs.ts';
import { openContentKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { inRollout } from '../core/rollout.ts';
import { publishEnvelopes } from './envelopes.ts';
import { nextTopLevel, readPublished, targetEntries } from './published.ts';
import { openRegistry } from './registry.ts';
import type { Release } from './release.ts';
import { HeldKeys, type Passphrases, roleSigners } from './role-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import type { JsonValue, TargetEntry } from './tuf/metadata.ts';
import { publishRepository } from './tuf/publish.ts';
import { rootsToPublish } from './tuf-roots.ts';
import type { OnlineRole, Workspace } from './workspace.ts';

export function publishedEntry(entries: TargetEntry[], target: string): TargetEntry {
  const entry = entries.find((e) => e.name === target);
  if (!entry) throw new SihlError('USAGE', `${target} is not published: run \`sihl release publish\` first`);
  return entry;
}

/**
 * Seals the content key to every non-revoked device of the model in the `percent` cohort, into a folder
 * of its own named after the targets version that will point at it: published files never change, so a
 * store or CDN that caches them for good never hands a device an older cohort's table. Returns the
 * entry's new `envelopes` folder, or undefined for an unencrypted release.
 */
export async function sealCohort(
  workspace: Workspace,
  release: Release,
  percent: number,
  passphrases: Passphrases,
): Promise<string | undefined> {
  if (!release.info.encrypted) return undefined;
  const { model, firmwareVersion } = release.info;
  const version = ((await readPublished(workspace.storeDir)).targets?.signed.version ?? 0) + 1;
  const folder = `releases/${releaseNameOf(model, firmwareVersion)}/targets-${version}`;
  const bytes = await readSmallFile(release.contentKeyPath, LIMITS.keyFileBytes);
  const { key, binding } = await openContentKey(
    bytes,
    await passphrases(`${releaseNameOf(model, firmwareVersion)} content key`),
  );
  const registry = openRegistry(workspace.registryPath);
  try {
    const releaseId = fromHex(release.info.releaseId);
    await publishEnvelopes({
      registry,
      model,
      contentKey: key,
      binding,
      dir: join(workspace.storeDir, folder),
      rollout: (id) => inRollout(releaseId, id, percent),
    });
  } finally {
    registry.close();
    wipe(key);
  }
  return `${folder}/envelopes/`;
}

export interface EntryChange {
  readonly rollout: number;
  readonly halted: boolean;
  /** The envelope tables of the new cohort. */
  readonly envelopes?: string | undefined;
}

/**
 * New targets, snapshot and timestamp in which only this release's entry changed. Envelope tables the
 * entry no longer names leave the staging copy once the metadata is out.
 */
export async function republish(
  workspace: Workspace,
  target: string,
  change: EntryChange,
  options: { readonly passphrases: Passphrases; readonly now?: Clock },
): Promise<number> {
  const store = workspace.storeDir;
  const published = await readPublished(store);
  const entries = targetEntries(published.targets);
  const before = publishedEntry(entries, target).custom?.envelopes;
  const next = entries.map((e): TargetEntry => {
    if (e.name !== target) return e;
    const { halted: _h, ...rest } = (e.custom ?? {}) as { [key: string]: JsonValue };
    return {
      ...e,
      custom: {
        ...rest,
        rollout: change.rollout,
        ...(change.halted ? { halted: true } : {}),
        ...(change.envelopes ? { envelopes: change.envelopes } : {}),
      },
    };
  });
  const expiry = options.now ? { now: options.now } : {};
  const roots = await rootsToPublish(workspace, published);
  // Online keys only: the rollout key signs targets (which approved image each device is offered).
  using held = new HeldKeys();
  const signersOf = async (role: OnlineRole) =>
    held.hold(await roleSigners(workspace, role, options.passphrases)).map(signerFrom);
  const signers = {
    targets: await signersOf('rollout'),
    snapshot: await signersOf('snapshot'),
    timestamp: await signersOf('timestamp'),
  };
  const { targets, snapshot, timestamp } = nextTopLevel(published, next, signers, expiry);
  await publishRepository(store, { roots, targets, snapshot, timestamp }, expiry);
  if (typeof before === 'string' && change.envelopes && before !== change.envelopes)
    await rm(join(store, before), { recursive: true, force: true });
  return targets.signed.version;
}
