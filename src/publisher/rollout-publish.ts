// Acting on a rollout (docs/ROLLOUTS.md): widening, halting and resuming publish new targets, snapshot
// and timestamp metadata in which only the release's entry changed (its `rollout` percentage, and
// `halted`). Envelopes are sealed per stage: advancing or resuming seals the content key to the devices
// of the new cohort; halting removes the release's envelope tables after the metadata went out.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { wipe } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { fromHex } from '../core/format/bytes.ts';
import { readSmallFile } from '../core/fs.ts';
import { openContentKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { inRollout } from '../core/rollout.ts';
import { publishEnvelopes } from './envelopes.ts';
import { nextTopLevel, readPublished, targetEntries } from './published.ts';
import { openRegistry } from './registry.ts';
import { openRelease, type Release } from './release.ts';
import { HeldKeys, type Passphrases, roleSigners } from './role-keys.ts';
import {
  advanced,
  checkPolicy,
  checkStages,
  DEFAULT_POLICY,
  DEFAULT_STAGES,
  decide,
  failureRate,
  halted,
  nextStage,
  type RolloutCounts,
  type RolloutPolicy,
  type RolloutState,
  readRollout,
  resumed,
  writeRollout,
} from './rollout.ts';
import { type Clock, systemClock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import type { JsonValue, TargetEntry } from './tuf/metadata.ts';
import { publishRepository } from './tuf/publish.ts';
import type { Workspace } from './workspace.ts';

export interface RolloutOptions {
  readonly passphrases: Passphrases;
  readonly now?: Clock;
  /** Stages and policy to set (at first use, or to change them later). */
  readonly stages?: readonly number[];
  readonly policy?: Partial<RolloutPolicy>;
}

export interface Rollout {
  readonly release: Release;
  readonly name: string;
  readonly state: RolloutState;
}

const releaseDirOf = (workspace: Workspace, name: string) => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,160}$/.test(name))
    throw new SihlError('USAGE', `"${name.slice(0, 80)}" is not a release name (MODEL-VERSION)`);
  return join(workspace.dir, 'releases', name);
};

function publishedEntry(entries: TargetEntry[], target: string): TargetEntry {
  const entry = entries.find((e) => e.name === target);
  if (!entry) throw new SihlError('USAGE', `${target} is not published: run \`sihl release publish\` first`);
  return entry;
}

/** The release's rollout, started from its published entry on first use. Writes the state if it changed. */
export async function openRollout(
  workspace: Workspace,
  name: string,
  options: Pick<RolloutOptions, 'now' | 'stages' | 'policy'> = {},
): Promise<Rollout> {
  const release = await openRelease(releaseDirOf(workspace, name));
  const { model, firmwareVersion } = release.info;
  let state = await readRollout(release.dir);
  if (!state) {
    const target = `${model}/${model}-${firmwareVersion}.sihl`;
    const entry = publishedEntry(targetEntries((await readPublished(workspace.storeDir)).targets), target);
    const percent = Number(entry.custom?.rollout ?? 100);
    const at = (options.now ?? systemClock)().toISOString();
    state = {
      sihl: 'rollout',
      version: 1,
      target,
      releaseId: release.info.releaseId,
      stages: DEFAULT_STAGES,
      percent,
      status: entry.custom?.halted === true ? 'halted' : percent >= 100 ? 'complete' : 'active',
      policy: DEFAULT_POLICY,
      stageSince: at,
      countSince: at,
      history: [{ at, action: 'start', by: 'operator', percent }],
    };
  } else if (!options.stages && !options.policy) {
    return { release, name, state };
  }
  state = {
    ...state,
    stages: checkStages(options.stages ?? state.stages),
    policy: checkPolicy({ ...state.policy, ...options.policy }),
  };
  await writeRollout(release.dir, state);
  return { release, name, state };
}

/** Seals the content key to every non-revoked device of the model in the `percent` cohort. */
async function sealCohort(workspace: Workspace, release: Release, percent: number, passphrases: Passphrases) {
  if (!release.info.encrypted) return;
  const { model, firmwareVersion } = release.info;
  const bytes = await readSmallFile(release.contentKeyPath, LIMITS.keyFileBytes);
  const { key, binding } = await openContentKey(
    bytes,
    await passphrases(`${model}-${firmwareVersion} content key`),
  );
  const registry = openRegistry(workspace.registryPath);
  try {
    const releaseId = fromHex(release.info.releaseId);
    await publishEnvelopes({
      registry,
      model,
      contentKey: key,
      binding,
      dir: join(workspace.storeDir, 'releases', `${model}-${firmwareVersion}`),
      rollout: (id) => inRollout(releaseId, id, percent),
    });
  } finally {
    registry.close();
    wipe(key);
  }
}

/** New targets, snapshot and timestamp in which only this release's entry changed. */
async function republish(
  workspace: Workspace,
  target: string,
  custom: { rollout: number; halted: boolean },
  options: Pick<RolloutOptions, 'passphrases' | 'now'>,
): Promise<number> {
  const store = workspace.storeDir;
  const published = await readPublished(store);
  const entries = targetEntries(published.targets);
  publishedEntry(entries, target);
  const next = entries.map((e): TargetEntry => {
    if (e.name !== target) return e;
    const { halted: _h, ...rest } = (e.custom ?? {}) as { [key: string]: JsonValue };
    return { ...e, custom: { ...rest, rollout: custom.rollout, ...(custom.halted ? { halted: true } : {}) } };
  });
  const expiry = options.now ? { now: options.now } : {};
  using held = new HeldKeys();
  const signersOf = async (role: 'targets' | 'snapshot' | 'timestamp') =>
    held.hold(await roleSigners(workspace, role, options.passphrases)).map(signerFrom);
  const approvers = await signersOf('targets');
  const snapshotSigners = await signersOf('snapshot');
  const timestampSigners = await signersOf('timestamp');
  const { targets, snapshot, timestamp } = nextTopLevel(
    published,
    next,
    { targets: approvers, snapshot: snapshotSigners, timestamp: timestampSigners },
    expiry,
  );
  await publishRepository(store, { roots: [], targets, snapshot, timestamp }, expiry);
  return targets.signed.version;
}

/** Widens the rollout to the next stage (or to `to`): envelopes for the new cohort, then the metadata. */
export async function advanceRollout(
  workspace: Workspace,
  name: string,
  options: RolloutOptions & { readonly to?: number; readonly by?: 'auto' | 'operator' },
): Promise<Rollout> {
  const { release, state } = await openRollout(workspace, name, options);
  if (state.status === 'halted')
    throw new SihlError('USAGE', `the rollout of ${name} is halted: resume it first`);
  const to = options.to ?? nextStage(state);
  if (to === undefined) throw new SihlError('USAGE', `${name} is already at 100 %`);
  if (!Number.isInteger(to) || to <= state.percent || to > 100)
    throw new SihlError('USAGE', `a rollout only widens: from ${state.percent} % to at most 100 %`);
  await sealCohort(workspace, release, to, options.passphrases);
  await republish(workspace, state.target, { rollout: to, halted: false }, options);
  const next = advanced(state, to, options.by ?? 'operator', (options.now ?? systemClock)());
  await writeRollout(release.dir, next);
  return { release, name, state: next };
}

/**
 * Withdraws the release from devices that have not installed it: the entry stays (so the policy gate
 * still sees its version) with rollout 0 and `halted`, and the envelope tables go once that is published.
 */
export async function haltRollout(
  workspace: Workspace,
  name: string,
  options: RolloutOptions & {
    readonly by?: 'auto' | 'operator';
    readonly counts?: RolloutCounts;
    readonly reason?: string;
  },
): Promise<Rollout> {
  const { release, state } = await openRollout(workspace, name, options);
  if (state.status === 'halted') return { release, name, state };
  await republish(workspace, state.target, { rollout: 0, halted: true }, options);
  const { model, firmwareVersion } = release.info;
  // Envelope tables (and any credential tables beside them): nothing may open the release any more.
  await rm(join(workspace.storeDir, 'releases', `${model}-${firmwareVersion}`), {
    recursive: true,
    force: true,
  });
  const counts = options.counts ?? { reported: 0, succeeded: 0, failed: 0 };
  const next = halted(state, {
    at: (options.now ?? systemClock)().toISOString(),
    by: options.by ?? 'operator',
    percent: state.percent,
    failed: counts.failed,
    reported: counts.reported,
    rate: failureRate(counts),
    reason: options.reason ?? 'halted by an operator',
  });
  await writeRollout(release.dir, next);
  return { release, name, state: next };
}

/** Offers the release again at the stage it halted at; failures before now no longer count. */
export async function resumeRollout(
  workspace: Workspace,
  name: string,
  options: RolloutOptions,
): Promise<Rollout> {
  const { release, state } = await openRollout(workspace, name, options);
  if (state.status !== 'halted') throw new SihlError('USAGE', `the rollout of ${name} is not halted`);
  await sealCohort(workspace, release, state.percent, options.passphrases);
  await republish(workspace, state.target, { rollout: state.percent, halted: false }, options);
  const next = resumed(state, (options.now ?? systemClock)());
  await writeRollout(release.dir, next);
  return { release, name, state: next };
}

/** One automatic step: halt on failures, or advance on schedule, as `decide` says. */
export async function checkRollout(
  workspace: Workspace,
  name: string,
  counts: RolloutCounts,
  options: RolloutOptions,
): Promise<{ rollout: Rollout; decision: ReturnType<typeof decide> }> {
  const rollout = await openRollout(workspace, name, options);
  const decision = decide(rollout.state, counts, (options.now ?? systemClock)());
  if (decision.action === 'halt') {
    const after = await haltRollout(workspace, name, {
      ...options,
      by: 'auto',
      counts,
      reason: decision.why,
    });
    return { rollout: after, decision };
  }
  if (decision.action === 'advance') {
    const after = await advanceRollout(workspace, name, { ...options, to: decision.to, by: 'auto' });
    return { rollout: after, decision };
  }
  return { rollout, decision };
}
