// sihl rollout status | advance | halt | resume | check RELEASE: a release's staged rollout
// (docs/ROLLOUTS.md). Counts come from the report index, caught up from the workspace's log store first.
import { SihlError } from '../../core/errors.ts';
import type { Mirrored, Pushed } from '../../publisher/cloud-store.ts';
import { refuseOfflineKeys } from '../../publisher/online-keys.ts';
import {
  cohortOf,
  type Decision,
  failurePercent,
  nextStage,
  percentText,
  type RolloutCounts,
  type RolloutPolicy,
  type RolloutState,
} from '../../publisher/rollout.ts';
import {
  advanceRollout,
  checkRollout,
  haltRollout,
  openRollout,
  type Rollout,
  type RolloutOptions,
  resumeRollout,
} from '../../publisher/rollout-publish.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import { withWorkspaceIndex } from '../../server/console/workspace-index.ts';
import { type Command, integer, onePositional, optionalString, type Values } from '../command.ts';
import { prose } from '../option-lines.ts';
import { keyPassphrase } from '../passphrase.ts';
import { renderPushed, storeChoice, storeOption } from './store-option.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

export interface RolloutResult {
  readonly release: string;
  readonly target: string;
  readonly status: RolloutState['status'];
  readonly percent: number;
  readonly next: number | null;
  readonly stages: readonly number[];
  readonly policy: RolloutPolicy;
  readonly counts: RolloutCounts;
  /** 100 × failed / reported: failure rates are percentages everywhere. */
  readonly failurePercent: number;
  readonly halt: RolloutState['halt'] | null;
  readonly history: RolloutState['history'];
  readonly decision?: Decision;
  /** Where the change was mirrored to, when the store is not the workspace's folder. */
  readonly store?: Pushed;
}

const options = {
  stages: {
    type: 'string',
    value: 'LIST',
    help: 'stages in percent, e.g. 1,10,50,100 (saved with the rollout)',
  },
  'failure-rate': { type: 'string', value: 'PERCENT', help: 'halt at this failure rate (default 20)' },
  'min-failures': { type: 'string', value: 'N', help: 'and at least this many failed devices (default 5)' },
  'advance-after': {
    type: 'string',
    value: 'DURATION',
    help: 'advance by itself after a stage ran this long while healthy, e.g. 30m, 6h (default: never)',
  },
  'min-reports': {
    type: 'string',
    value: 'N',
    help: 'reports needed before advancing by itself (default 10)',
  },
  ...storeOption,
  ...workspaceOption,
} as const;

function duration(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text);
  if (!m) throw new SihlError('USAGE', '--advance-after is a duration like 90s, 30m, 6h, 2d, or 0');
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

function settings(values: Values): Pick<RolloutOptions, 'stages' | 'policy'> {
  const stages = optionalString(values, 'stages');
  const policy: Partial<{ -readonly [K in keyof RolloutPolicy]: RolloutPolicy[K] }> = {};
  if (values['failure-rate'] !== undefined)
    policy.failurePercent = integer(values, 'failure-rate', 20, 1, 100);
  if (values['min-failures'] !== undefined)
    policy.minFailures = integer(values, 'min-failures', 5, 0, 1_000_000);
  if (values['min-reports'] !== undefined)
    policy.minReports = integer(values, 'min-reports', 10, 0, 100_000_000);
  const after = optionalString(values, 'advance-after');
  if (after !== undefined) policy.advanceAfterSeconds = duration(after);
  return {
    ...(stages
      ? { stages: stages.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : Number.NaN)) }
      : {}),
    ...(Object.keys(policy).length > 0 ? { policy } : {}),
  };
}

/** What a command shows, with counts read from the configured log store through the report index. */
function result(rollout: Mirrored<Rollout>, counts: RolloutCounts, decision?: Decision): RolloutResult {
  const { state } = rollout;
  return {
    release: rollout.name,
    target: state.target,
    status: state.status,
    percent: state.percent,
    next: nextStage(state) ?? null,
    stages: state.stages,
    policy: state.policy,
    counts,
    failurePercent: failurePercent(counts),
    halt: state.halt ?? null,
    history: state.history,
    ...(decision ? { decision } : {}),
    ...(rollout.store ? { store: rollout.store } : {}),
  };
}

/** One verb: what it does to the rollout, given the counts since its stage began. */
type Action = (
  workspace: Workspace,
  name: string,
  o: RolloutOptions,
  counts: () => RolloutCounts,
) => Promise<{ rollout: Mirrored<Rollout>; decision?: Decision }>;

function rolloutCommand(verb: string, summary: string, action: Action): Command<RolloutResult> {
  return {
    path: ['rollout', verb],
    summary,
    usage: `rollout ${verb} RELEASE [--stages LIST] [--failure-rate P] [--min-failures N] [--advance-after D] [--store LOCATION] [--workspace DIR] [--json]`,
    details: prose`
      RELEASE is MODEL-VERSION (a folder under releases/). Advance, halt and resume publish new targets,
      snapshot and timestamp metadata, signed by the online rollout, snapshot and timestamp keys (no root
      or approver key): their passphrases come from SIHL_PASSPHRASE_ROLLOUT and the like, SIHL_PASSPHRASE
      or a prompt. Advance and resume also seal envelopes for the new cohort (the content key).
      Every change is mirrored to the store devices read (sihl.json "store" or --store). Counts come from
      the device logs: sihl.json "log" (an Azure table) or logs.db of \`sihl serve\`. Check, the cron
      job's step, runs where serve does: it refuses a folder or store where a root or approver private
      key is readable (KEY_FILE_EXPOSED); run it in the online folder (\`sihl online create DIR\`).
    `,
    options,
    async run(values, positionals, context) {
      const workspace = await openWorkspace(values, context);
      const name = onePositional(positionals, 'RELEASE');
      const o: RolloutOptions = {
        passphrases: (key) => keyPassphrase(context, key),
        ...storeChoice(values, context),
        ...settings(values),
      };
      return withWorkspaceIndex(workspace, context.env, async (index) => {
        const countsOf = ({ state }: Rollout) => index.counts(cohortOf(state, state));
        const before = await openRollout(workspace, name, o);
        const { rollout, decision } = await action(workspace, name, o, () => countsOf(before));
        return result(rollout, countsOf(rollout), decision);
      });
    },
    render: (r) => {
      const lines = [
        `${r.release}: ${r.status} at ${r.percent} %${r.next !== null && r.status === 'active' ? `, next stage ${r.next} %` : ''} (stages ${r.stages.join(' → ')})`,
        `reports since the stage began: ${r.counts.reported} of the ${r.counts.offered} devices offered it, ${r.counts.succeeded} succeeded, ${r.counts.failed} failed (${percentText(r.failurePercent)})`,
        `halts at ${percentText(r.policy.failurePercent)} failed with at least ${r.policy.minFailures} failures; ` +
          (r.policy.advanceAfterSeconds > 0
            ? `advances by itself after ${r.policy.advanceAfterSeconds} s with ${r.policy.minReports} reports`
            : 'advances by hand'),
      ];
      if (r.halt) lines.push(`halted ${r.halt.at} by ${r.halt.by}: ${r.halt.reason}`);
      if (r.decision) lines.push(`check: ${r.decision.action} (${r.decision.why})`);
      return lines.join('\n') + renderPushed(r.store);
    },
  };
}

export const rolloutStatus = rolloutCommand(
  'status',
  "Show a release's rollout: stage, what devices reported, why it halted.",
  async (workspace, name, o) => ({ rollout: await openRollout(workspace, name, o) }),
);

export const rolloutAdvance = rolloutCommand(
  'advance',
  'Widen a rollout to its next stage: envelopes for the new devices, then new signed metadata.',
  async (workspace, name, o) => ({ rollout: await advanceRollout(workspace, name, o) }),
);

export const rolloutHalt = rolloutCommand(
  'halt',
  'Stop a rollout: new devices no longer get the release; devices running it keep it.',
  async (workspace, name, o, counts) => ({
    rollout: await haltRollout(workspace, name, { ...o, counts: counts(), by: 'operator' }),
  }),
);

export const rolloutResume = rolloutCommand(
  'resume',
  'Offer a halted release again at the stage it stopped at.',
  async (workspace, name, o) => ({ rollout: await resumeRollout(workspace, name, o) }),
);

export const rolloutCheck = rolloutCommand(
  'check',
  'One automatic step: halt if failures reached the threshold, advance if the schedule says so.',
  async (workspace, name, o, counts) => {
    // The cron job's folder holds online keys only, as serve's and timestamp refresh's (docs/SERVER.md):
    // refused anywhere a root or approver private key is readable, an online folder or a workspace.
    await refuseOfflineKeys(workspace);
    return checkRollout(workspace, name, counts(), o);
  },
);
