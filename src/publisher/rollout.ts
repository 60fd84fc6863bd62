// Staged rollouts (docs/ROLLOUTS.md): a release's stages, where it stands, and why it stopped, kept in
// releases/MODEL-VERSION/rollout.json. The planner here is pure: it takes the state, what the devices of
// the release reported, and the time, and says whether to halt, advance or wait. rollout-publish.ts acts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { naming, SihlError } from '../core/errors.ts';
import { DEFAULT_CHANNEL } from '../core/format/target.ts';
import { writeFileAtomic } from '../core/fs.ts';

export const ROLLOUT_FILE = 'rollout.json';
export const DEFAULT_STAGES: readonly number[] = [1, 10, 50, 100];
/** At most this many stages, and history entries kept (the oldest go first). */
export const ROLLOUT_LIMITS = { stages: 20, history: 200 } as const;

/** Failure rates are percentages everywhere (CLI, JSON, rollout.json, console, docs): 20 is 20 %. */
export interface RolloutPolicy {
  /** Halt when 100 × failed / reported reaches this percentage (0 < p ≤ 100) ... */
  readonly failurePercent: number;
  /** ... and at least this many devices failed, so one unlucky device does not stop a release. */
  readonly minFailures: number;
  /** Advance by itself after a stage has run this long (0: advance only by hand). */
  readonly advanceAfterSeconds: number;
  /** ... if at least this many devices reported for the release, with a failure rate under the threshold. */
  readonly minReports: number;
}

export const DEFAULT_POLICY: RolloutPolicy = {
  failurePercent: 20,
  minFailures: 5,
  advanceAfterSeconds: 0,
  minReports: 10,
};

export type RolloutStatus = 'active' | 'halted' | 'complete';

/** Why a rollout stopped, as the console shows it. */
export interface HaltRecord {
  readonly at: string;
  readonly by: 'auto' | 'operator';
  readonly percent: number;
  /** What the devices had reported when it halted. */
  readonly failed: number;
  readonly reported: number;
  /** 100 × failed / reported. */
  readonly failurePercent: number;
  readonly reason: string;
}

export interface HistoryEntry {
  readonly at: string;
  readonly action: 'start' | 'advance' | 'halt' | 'resume';
  readonly by: 'auto' | 'operator';
  readonly percent: number;
  readonly note?: string;
}

export interface RolloutState {
  readonly sihl: 'rollout';
  readonly version: 1;
  /** The TUF target name, e.g. movehub/movehub-7.28.0.sihl. */
  readonly target: string;
  readonly releaseId: string;
  /** The channel the release is published on, from its entry (absent in files written before channels counted). */
  readonly channel?: string;
  readonly stages: readonly number[];
  /** The share of the model's devices the published entry offers the release to now. */
  readonly percent: number;
  readonly status: RolloutStatus;
  readonly policy: RolloutPolicy;
  /** When the current stage began (ISO 8601): scheduled advances count from here. */
  readonly stageSince: string;
  /** Reports received from here on count toward halting (moved on resume, so old failures do not re-halt). */
  readonly countSince: string;
  readonly halt?: HaltRecord;
  readonly history: readonly HistoryEntry[];
}

/**
 * What the devices of the release's cohort said, each counted once by its latest report naming the
 * release (src/server/console/report-index.ts).
 */
export interface RolloutCounts {
  /** Unrevoked devices of the release's model and channel in the stage: those the release is offered to. */
  readonly offered: number;
  readonly reported: number;
  readonly succeeded: number;
  readonly failed: number;
}

export type Decision =
  | { readonly action: 'none'; readonly why: string }
  | { readonly action: 'halt'; readonly why: string }
  | { readonly action: 'advance'; readonly to: number; readonly why: string };

export function checkStages(stages: readonly number[]): readonly number[] {
  const ok =
    Array.isArray(stages) &&
    stages.length > 0 &&
    stages.length <= ROLLOUT_LIMITS.stages &&
    stages.every(
      (s, i) => Number.isInteger(s) && s >= 1 && s <= 100 && (i === 0 || s > (stages[i - 1] as number)),
    ) &&
    stages.at(-1) === 100;
  if (!ok) {
    throw new SihlError(
      'USAGE',
      `stages are whole percentages from 1 to 100, rising, ending at 100, at most ${ROLLOUT_LIMITS.stages} (e.g. 1,10,50,100)`,
    );
  }
  return [...stages];
}

export function checkPolicy(policy: RolloutPolicy): RolloutPolicy {
  const problems: string[] = [];
  if (!(policy.failurePercent > 0 && policy.failurePercent <= 100))
    problems.push('failurePercent must be above 0 and at most 100');
  for (const field of ['minFailures', 'advanceAfterSeconds', 'minReports'] as const) {
    if (!Number.isSafeInteger(policy[field]) || policy[field] < 0)
      problems.push(`${field} must be a whole number ≥ 0`);
  }
  if (problems.length > 0) throw new SihlError('USAGE', `rollout policy: ${problems.join('; ')}`);
  return { ...policy };
}

/** The stage after `percent`, or undefined at 100 %. */
export function nextStage(state: Pick<RolloutState, 'stages' | 'percent'>): number | undefined {
  return state.stages.find((s) => s > state.percent);
}

/** 100 × failed / reported: a percentage, like every failure rate in sihl. */
export function failurePercent(counts: RolloutCounts): number {
  return counts.reported === 0 ? 0 : (100 * counts.failed) / counts.reported;
}

/** Whether to halt, advance or wait. Pure: `now` is given. */
export function decide(state: RolloutState, counts: RolloutCounts, now: Date): Decision {
  if (state.status === 'halted') return { action: 'none', why: 'the rollout is halted' };
  const { policy } = state;
  const rate = failurePercent(counts);
  // A complete rollout (100 %) is halted too: devices that have not installed it yet still would.
  if (counts.failed >= Math.max(1, policy.minFailures) && rate >= policy.failurePercent) {
    return {
      action: 'halt',
      why: `${counts.failed} of ${counts.reported} devices failed (${percentText(rate)}, threshold ${percentText(policy.failurePercent)} with at least ${policy.minFailures})`,
    };
  }
  const to = nextStage(state);
  if (to === undefined) return { action: 'none', why: 'at 100 %' };
  if (policy.advanceAfterSeconds === 0) return { action: 'none', why: 'advances by hand' };
  const ran = (now.getTime() - Date.parse(state.stageSince)) / 1000;
  if (ran < policy.advanceAfterSeconds) return { action: 'none', why: 'the stage has not run long enough' };
  if (counts.reported < policy.minReports)
    return { action: 'none', why: `${counts.reported} of ${policy.minReports} reports needed` };
  if (rate >= policy.failurePercent) return { action: 'none', why: 'the failure rate is too high' };
  return { action: 'advance', to, why: `${counts.succeeded} of ${counts.reported} succeeded` };
}

/** A percentage as people read it: one decimal at most, e.g. "16.7 %". */
export function percentText(percent: number): string {
  return `${Math.round(percent * 10) / 10} %`;
}

/** Whom a release's counts are about: the cohort of its stage, from when reports count. */
export interface Cohort {
  /** The TUF target name, e.g. movehub/movehub-7.28.0.sihl. */
  readonly target: string;
  readonly model: string;
  /** Only devices registered on the channel the release is published on were offered it. */
  readonly channel: string;
  /** Hex, from the published entry (custom.releaseId). */
  readonly releaseId: string;
  /** The stage: devices with inRollout(releaseId, id, percent) are offered the release. */
  readonly percent: number;
  readonly since: Date;
}

/** The cohort of a published release: its rollout state's stage when it has one, else the entry's. */
export function cohortOf(
  release: {
    readonly target: string;
    readonly releaseId: string;
    readonly percent: number;
    readonly channel?: string;
  },
  state?: RolloutState,
): Cohort {
  return {
    target: release.target,
    model: release.target.split('/')[0] ?? '',
    channel: release.channel ?? state?.channel ?? DEFAULT_CHANNEL,
    releaseId: state?.releaseId ?? release.releaseId,
    percent: state?.percent ?? release.percent,
    since: new Date(state?.countSince ?? 0),
  };
}

function withHistory(state: RolloutState, entry: HistoryEntry): readonly HistoryEntry[] {
  return [...state.history, entry].slice(-ROLLOUT_LIMITS.history);
}

/** The state after the published entry moved to `percent`. */
export function advanced(
  state: RolloutState,
  percent: number,
  by: 'auto' | 'operator',
  now: Date,
): RolloutState {
  const at = now.toISOString();
  return {
    ...state,
    percent,
    status: percent >= 100 ? 'complete' : 'active',
    stageSince: at,
    history: withHistory(state, { at, action: 'advance', by, percent }),
  };
}

export function halted(state: RolloutState, halt: HaltRecord): RolloutState {
  return {
    ...state,
    status: 'halted',
    halt,
    history: withHistory(state, {
      at: halt.at,
      action: 'halt',
      by: halt.by,
      percent: state.percent,
      note: halt.reason,
    }),
  };
}

export function resumed(state: RolloutState, now: Date): RolloutState {
  const at = now.toISOString();
  const { halt: _halt, ...rest } = state;
  return {
    ...rest,
    status: state.percent >= 100 ? 'complete' : 'active',
    stageSince: at,
    countSince: at,
    history: withHistory(state, { at, action: 'resume', by: 'operator', percent: state.percent }),
  };
}

/**
 * The state after a change that published its metadata but died before it saved rollout.json: the
 * published entry is what devices see, so the state follows it. Undefined when they agree.
 */
export function reconciled(
  state: RolloutState,
  entry: { readonly rollout: number; readonly halted: boolean },
  now: Date,
): RolloutState | undefined {
  const note = 'recorded after the command that published it was interrupted';
  if (entry.halted) {
    if (state.status === 'halted') return undefined;
    const at = now.toISOString();
    const halt = { at, by: 'operator', percent: state.percent, failed: 0, reported: 0 } as const;
    return halted(state, { ...halt, failurePercent: 0, reason: `halted; ${note}` });
  }
  if (state.status !== 'halted' && entry.rollout === state.percent) return undefined;
  const back = state.status === 'halted' ? resumed({ ...state, percent: entry.rollout }, now) : state;
  if (entry.rollout === back.percent) return back;
  const next = advanced(back, entry.rollout, 'operator', now);
  const last = next.history.at(-1) as HistoryEntry;
  return { ...next, history: [...next.history.slice(0, -1), { ...last, note }] };
}

export function rolloutPath(releaseDir: string): string {
  return join(releaseDir, ROLLOUT_FILE);
}

export async function readRollout(releaseDir: string): Promise<RolloutState | undefined> {
  const path = rolloutPath(releaseDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw naming(path, error);
  }
  let state: RolloutState;
  try {
    state = JSON.parse(text);
  } catch {
    throw new SihlError('USAGE', 'rollout.json is not JSON', { subject: path });
  }
  if (state?.sihl !== 'rollout' || state.version !== 1 || typeof state.target !== 'string') {
    throw new SihlError('USAGE', 'not a sihl rollout file', { subject: path });
  }
  state = inPercent(state);
  checkStages(state.stages);
  checkPolicy(state.policy);
  return state;
}

/** A rollout.json written before rates were percentages held fractions (failureRate 0.2, halt rate). */
function inPercent(state: RolloutState): RolloutState {
  type Before = { failureRate?: number; rate?: number };
  const { failureRate, ...policy } = state.policy as RolloutPolicy & Before;
  const migrated: RolloutState = {
    ...state,
    policy: failureRate === undefined ? state.policy : { ...policy, failurePercent: failureRate * 100 },
  };
  const halt = state.halt as (HaltRecord & Before) | undefined;
  if (halt?.rate === undefined) return migrated;
  const { rate, ...rest } = halt;
  return { ...migrated, halt: { ...rest, failurePercent: rate * 100 } };
}

/** Written whole, atomically: a reader sees the old state or the new one. */
export async function writeRollout(releaseDir: string, state: RolloutState): Promise<void> {
  await writeFileAtomic(rolloutPath(releaseDir), `${JSON.stringify(state, null, 2)}\n`, { overwrite: true });
}
