// Acting on a rollout (docs/ROLLOUTS.md): widening, halting and resuming publish new targets, snapshot
// and timestamp metadata in which only the release's entry changed (its `rollout` percentage, and
// `halted`). Envelopes are sealed per stage: advancing or resuming seals the content key to the devices
// of the new cohort; halting removes the release's envelope tables after the metadata went out.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from '../core/crash-points.ts';
import { SihlError } from '../core/errors.ts';
import { DEFAULT_CHANNEL, targetNameOf } from '../core/format/target.ts';
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { readPublished, targetEntries } from './published.ts';
import { openRelease, type Release } from './release.ts';
import type { Passphrases } from './role-keys.ts';
import {
  advanced,
  checkPolicy,
  checkStages,
  DEFAULT_POLICY,
  DEFAULT_STAGES,
  decide,
  failurePercent,
  halted,
  nextStage,
  type RolloutCounts,
  type RolloutPolicy,
  type RolloutState,
  readRollout,
  reconciled,
  resumed,
  writeRollout,
} from './rollout.ts';
import { publishedEntry, republish, sealCohort } from './rollout-entry.ts';
import { type Clock, systemClock } from './tuf/expiry.ts';
import type { Workspace } from './workspace.ts';

/** Every change also mirrors to the configured store (`StoreChoice`): devices that read it see the change. */
export interface RolloutOptions extends StoreChoice {
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

/** The release's rollout, started from its published entry on first use. Writes the state if it changed. */
export async function openRollout(
  workspace: Workspace,
  name: string,
  options: Pick<RolloutOptions, 'now' | 'stages' | 'policy'> = {},
): Promise<Rollout> {
  const release = await openRelease(releaseDirOf(workspace, name));
  const { model, firmwareVersion } = release.info;
  let state = await readRollout(release.dir);
  const target = targetNameOf(model, firmwareVersion);
  const entry = publishedEntry(targetEntries((await readPublished(workspace.storeDir)).targets), target);
  const percent = Number(entry.custom?.rollout ?? 100);
  // The published entry says which channel's devices count (a rollout.json may predate channels).
  const channel = typeof entry.custom?.channel === 'string' ? entry.custom.channel : DEFAULT_CHANNEL;
  const now = (options.now ?? systemClock)();
  const recovered =
    state && reconciled(state, { rollout: percent, halted: entry.custom?.halted === true }, now);
  if (recovered) {
    state = recovered;
    await writeRollout(release.dir, state);
  }
  if (!state) {
    const at = now.toISOString();
    state = {
      sihl: 'rollout',
      version: 1,
      target,
      releaseId: release.info.releaseId,
      channel,
      stages: DEFAULT_STAGES,
      percent,
      status: entry.custom?.halted === true ? 'halted' : percent >= 100 ? 'complete' : 'active',
      policy: DEFAULT_POLICY,
      stageSince: at,
      // Every report naming the release counts, also those before this first use: it is published once.
      countSince: new Date(0).toISOString(),
      history: [{ at, action: 'start', by: 'operator', percent }],
    };
  } else if (!options.stages && !options.policy) {
    return { release, name, state: { ...state, channel } };
  }
  state = {
    ...state,
    channel,
    stages: checkStages(options.stages ?? state.stages),
    policy: checkPolicy({ ...state.policy, ...options.policy }),
  };
  await writeRollout(release.dir, state);
  return { release, name, state };
}

/** Widens the rollout to the next stage (or to `to`): envelopes for the new cohort, then the metadata. */
export function advanceRollout(
  workspace: Workspace,
  name: string,
  options: RolloutOptions & { readonly to?: number; readonly by?: 'auto' | 'operator' },
): Promise<Mirrored<Rollout>> {
  return mirrored(workspace, options, () => advanceInStaging(workspace, name, options));
}

async function advanceInStaging(
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
  const tables = await sealCohort(workspace, release, to, options.passphrases);
  await crashPoint('sealed cohort');
  await republish(workspace, state.target, { rollout: to, halted: false, ...tables }, options);
  const next = advanced(state, to, options.by ?? 'operator', (options.now ?? systemClock)());
  await writeRollout(release.dir, next);
  return { release, name, state: next };
}

/**
 * Withdraws the release from devices that have not installed it: the entry stays (so the policy gate
 * still sees its version) with rollout 0 and `halted`, and the envelope tables go once that is published.
 */
export function haltRollout(
  workspace: Workspace,
  name: string,
  options: HaltOptions,
): Promise<Mirrored<Rollout>> {
  return mirrored(workspace, options, () => haltInStaging(workspace, name, options));
}

export interface HaltOptions extends RolloutOptions {
  readonly by?: 'auto' | 'operator';
  /** What the devices had reported, kept in the halt record. */
  readonly counts?: RolloutCounts;
  readonly reason?: string;
}

async function haltInStaging(workspace: Workspace, name: string, options: HaltOptions): Promise<Rollout> {
  const { release, state } = await openRollout(workspace, name, options);
  if (state.status === 'halted') return { release, name, state };
  await republish(workspace, state.target, { rollout: 0, halted: true }, options);
  await crashPoint('halt published');
  const { model, firmwareVersion } = release.info;
  // Envelope tables (and any credential tables beside them): nothing may open the release any more.
  await rm(join(workspace.storeDir, 'releases', `${model}-${firmwareVersion}`), {
    recursive: true,
    force: true,
  });
  const counts = options.counts ?? { offered: 0, reported: 0, succeeded: 0, failed: 0 };
  const next = halted(state, {
    at: (options.now ?? systemClock)().toISOString(),
    by: options.by ?? 'operator',
    percent: state.percent,
    failed: counts.failed,
    reported: counts.reported,
    failurePercent: failurePercent(counts),
    reason: options.reason ?? 'halted by an operator',
  });
  await writeRollout(release.dir, next);
  return { release, name, state: next };
}

/** Offers the release again at the stage it halted at; failures before now no longer count. */
export function resumeRollout(
  workspace: Workspace,
  name: string,
  options: RolloutOptions,
): Promise<Mirrored<Rollout>> {
  return mirrored(workspace, options, () => resumeInStaging(workspace, name, options));
}

async function resumeInStaging(
  workspace: Workspace,
  name: string,
  options: RolloutOptions,
): Promise<Rollout> {
  const { release, state } = await openRollout(workspace, name, options);
  if (state.status !== 'halted') throw new SihlError('USAGE', `the rollout of ${name} is not halted`);
  const tables = await sealCohort(workspace, release, state.percent, options.passphrases);
  await republish(workspace, state.target, { rollout: state.percent, halted: false, ...tables }, options);
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
): Promise<{ rollout: Mirrored<Rollout>; decision: ReturnType<typeof decide> }> {
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
