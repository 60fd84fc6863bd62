// What the console shows of releases and what an operator may do to one: halt, resume, advance. Each is
// the library's use case (src/publisher/rollout-publish.ts), so it mirrors to the configured store like
// the same verb from the CLI, and runs in the monitor's queue so two changes never race.
import { join } from 'node:path';
import type { Clock } from '../../core/clock.ts';
import type { StoreChoice } from '../../publisher/cloud-store.ts';
import type { Passphrases } from '../../publisher/role-keys.ts';
import { cohortOf, readRollout } from '../../publisher/rollout.ts';
import { advanceRollout, haltRollout, resumeRollout } from '../../publisher/rollout-publish.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { ReleaseSummary } from './pages.ts';
import type { ReportIndex } from './report-index.ts';
import { publishedReleases, type RolloutMonitor } from './rollout-monitor.ts';

/** What an operator may do to a release from the console. */
export const CONSOLE_ACTIONS = ['halt', 'resume', 'advance'] as const;
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];
export const isConsoleAction = (verb: string): verb is ConsoleAction =>
  (CONSOLE_ACTIONS as readonly string[]).includes(verb);

/** Every published release with its rollout state, as the pages show them. */
export async function releaseSummaries(workspace: Workspace): Promise<ReleaseSummary[]> {
  return Promise.all(
    (await publishedReleases(workspace)).map(async (ref) => {
      const state = await readRollout(join(workspace.dir, 'releases', ref.name)).catch(() => undefined);
      const model = ref.target.split('/')[0] ?? '';
      return {
        name: ref.name,
        target: ref.target,
        model,
        version: ref.name.slice(model.length + 1),
        percent: ref.percent,
        releaseId: ref.releaseId,
        channel: ref.channel,
        status: state?.status ?? (ref.halted ? 'halted' : ref.percent >= 100 ? 'complete' : 'active'),
        ...(state ? { state } : {}),
      };
    }),
  );
}

export interface ActionContext {
  readonly workspace: Workspace;
  readonly index: ReportIndex;
  readonly monitor: RolloutMonitor;
  readonly passphrases?: Passphrases;
  readonly store?: StoreChoice;
  readonly now?: Clock;
}

/** Does `verb` to release `name`; returns the notice the operator sees. Refusals throw a SihlError. */
export async function act(context: ActionContext, name: string, verb: ConsoleAction): Promise<string> {
  const { workspace, index, monitor, passphrases } = context;
  if (!passphrases) return 'The server cannot sign: start it with SIHL_PASSPHRASE set (docs/CONSOLE.md).';
  const o = { passphrases, ...context.store, ...(context.now ? { now: context.now } : {}) };
  return monitor.run(async () => {
    switch (verb) {
      case 'halt': {
        const r = (await releaseSummaries(workspace)).find((s) => s.name === name);
        const counts = r ? index.counts(cohortOf(r, r.state)) : undefined;
        await haltRollout(workspace, name, { ...o, by: 'operator', ...(counts ? { counts } : {}) });
        return 'Halted: new devices no longer get this release.';
      }
      case 'resume':
        await resumeRollout(workspace, name, o);
        return 'Resumed at the stage it halted at.';
      case 'advance': {
        const r = await advanceRollout(workspace, name, o);
        return `Advanced to ${r.state.percent} %.`;
      }
    }
  });
}
