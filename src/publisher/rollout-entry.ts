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
import { planRecipients, type RecipientPlan, recipientFields } from './recipients.ts';
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

/** A cohort's tables and revocations: the entry fields a rollout step replaces (recipients.ts). */
export interface CohortTables {
  readonly envelopes?: string;
  readonly salt: string;
  readonly slots?: number;
  readonly revoked: string[];
}

/**
 * Plans the `percent` cohort under a fresh salt and, for an encrypted release, seals the content key to
 * every non-revoked device of the model in it, into a folder of its own named after the targets version
 * that will point at it: published files never change, so a store or CDN that caches them for good never
 * hands a device an older cohort's table. Returns the entry's new table fields.
 */
export async function sealCohort(
  workspace: Workspace,
  release: Release,
  percent: number,
  passphrases: Passphrases,
): Promise<CohortTables> {
  const { model, firmwareVersion } = release.info;
  const releaseId = fromHex(release.info.releaseId);
  const registry = openRegistry(workspace.registryPath);
  let plan: RecipientPlan;
  try {
    plan = planRecipients({
      registry,
      model,
      rollout: (id) => inRollout(releaseId, id, percent),
      tables: release.info.encrypted,
    });
  } finally {
    registry.close();
  }
  if (!release.info.encrypted) return recipientFields(plan);
  const version = ((await readPublished(workspace.storeDir)).targets?.signed.version ?? 0) + 1;
  const folder = `releases/${releaseNameOf(model, firmwareVersion)}/targets-${version}`;
  const bytes = await readSmallFile(release.contentKeyPath, LIMITS.keyFileBytes);
  const { key, binding } = await openContentKey(
    bytes,
    await passphrases(`${releaseNameOf(model, firmwareVersion)} content key`),
  );
  try {
    await publishEnvelopes({ plan, contentKey: key, binding, dir: join(workspace.storeDir, folder) });
  } finally {
    wipe(key);
  }
  return { ...recipientFields(plan), envelopes: `${folder}/envelopes/` };
}

export interface EntryChange extends Partial<CohortTables> {
  readonly rollout: number;
  readonly halted: boolean;
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
    // A new salt moves every slot: the credential tables of the first publication can no longer be
    // found, so the entry stops naming them (docs/CLOUD.md: a rollout step renews no log credential).
    const { credentials: _c, slots: _s, salt: _t, revoked: _r, ...unsalted } = rest;
    const tables =
      change.salt === undefined
        ? {}
        : {
            salt: change.salt,
            ...(change.slots === undefined ? {} : { slots: change.slots }),
            revoked: change.revoked ?? [],
          };
    return {
      ...e,
      custom: {
        ...(change.salt === undefined ? rest : unsalted),
        rollout: change.rollout,
        ...(change.halted ? { halted: true } : {}),
        ...(change.envelopes ? { envelopes: change.envelopes } : {}),
        ...tables,
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
