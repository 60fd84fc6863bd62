// Automatic rollout checks inside `sihl serve` (docs/ROLLOUTS.md §Automatic): shortly after reports
// arrive, and on a fixed interval for scheduled advances, every release not halted (complete ones too)
// is checked against its policy and halted or advanced. All publishing in the server process, the
// console's buttons included, runs through one queue here, and the publish lock keeps it apart from the
// CLI's (src/publisher/publish-lock.ts).

import { join } from 'node:path';
import { DEFAULT_CHANNEL } from '../../core/format/target.ts';
import type { StoreChoice } from '../../publisher/cloud-store.ts';
import { readPublished, targetEntries } from '../../publisher/published.ts';
import type { Passphrases } from '../../publisher/role-keys.ts';
import { cohortOf, type RolloutState, readRollout } from '../../publisher/rollout.ts';
import { checkRollout, type RolloutOptions } from '../../publisher/rollout-publish.ts';
import type { Clock } from '../../publisher/tuf/expiry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { LogStore } from '../../storage/log-store.ts';
import type { ReportIndex } from './report-index.ts';

export interface MonitorOptions {
  readonly workspace: Workspace;
  readonly index: ReportIndex;
  /** Read before every pass: devices may write to it directly (an Azure table), not through the server. */
  readonly logStore?: LogStore;
  /** Where halts and advances are mirrored to (the configured store) and with which credentials. */
  readonly store?: StoreChoice;
  /** Without passphrases the monitor cannot sign, so it only watches. */
  readonly passphrases?: Passphrases;
  readonly now?: Clock;
  /** Delay from a report to the check it triggers (reports come in bursts). */
  readonly delayMs?: number;
  /** Checks for scheduled advances this often (0: never). */
  readonly everyMs?: number;
  readonly onEvent?: (event: { release: string; action: string; why: string }) => void;
}

export interface ReleaseRef {
  readonly name: string;
  readonly target: string;
  readonly percent: number;
  readonly halted: boolean;
  /** Hex (custom.releaseId). */
  readonly releaseId: string;
  /** The channel it is published on (custom.channel). */
  readonly channel: string;
}

/** Every published release, with where its entry stands. */
export async function publishedReleases(workspace: Workspace): Promise<ReleaseRef[]> {
  const { targets } = await readPublished(workspace.storeDir);
  return targetEntries(targets).flatMap((e) => {
    const c = e.custom ?? {};
    if (typeof c.model !== 'string' || typeof c.version !== 'string') return [];
    return [
      {
        name: `${c.model}-${c.version}`,
        target: e.name,
        percent: Number(c.rollout ?? 100),
        halted: c.halted === true,
        releaseId: typeof c.releaseId === 'string' ? c.releaseId : '',
        channel: typeof c.channel === 'string' ? c.channel : DEFAULT_CHANNEL,
      },
    ];
  });
}

export class RolloutMonitor {
  readonly #o: MonitorOptions;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #closed = false;
  lastError: string | undefined;

  constructor(options: MonitorOptions) {
    this.#o = options;
    if ((options.everyMs ?? 60_000) > 0) {
      this.#interval = setInterval(() => this.checkSoon(0), options.everyMs ?? 60_000);
      this.#interval.unref();
    }
  }

  get canAct(): boolean {
    return this.#o.passphrases !== undefined;
  }

  /** Runs `work` after everything queued before it. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** A report arrived: check within `delayMs`, once per burst. */
  checkSoon(delay = this.#o.delayMs ?? 1_000): void {
    if (this.#closed || this.#timer || !this.canAct) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.run(() => this.checkAll()).catch((error: unknown) => {
        this.lastError = (error as Error).message;
      });
    }, delay);
    this.#timer.unref();
  }

  /** One pass over the releases not halted; returns what was done. */
  async checkAll(): Promise<{ release: string; action: string; why: string }[]> {
    const { workspace, index, passphrases } = this.#o;
    if (!passphrases) return [];
    if (this.#o.logStore) await index.catchUp(this.#o.logStore);
    const done: { release: string; action: string; why: string }[] = [];
    let failed: string | undefined;
    for (const ref of await publishedReleases(workspace)) {
      let state: RolloutState | undefined;
      try {
        state = await readRollout(join(workspace.dir, 'releases', ref.name));
      } catch {
        continue;
      }
      // Complete rollouts too: a release at 100 % still reaches devices that have not installed it.
      const underWay = state ? state.status !== 'halted' : !ref.halted;
      if (!underWay) continue;
      const options: RolloutOptions = {
        passphrases,
        ...this.#o.store,
        ...(this.#o.now ? { now: this.#o.now } : {}),
      };
      // One release that cannot be checked (its folder gone, the publish lock held by the CLI) does not
      // keep the others from their check; the first error is shown, and the next pass tries again.
      try {
        const counts = index.counts(cohortOf(ref, state));
        const { decision } = await checkRollout(workspace, ref.name, counts, options);
        if (decision.action !== 'none') {
          const event = { release: ref.name, action: decision.action, why: decision.why };
          done.push(event);
          this.#o.onEvent?.(event);
        }
      } catch (error) {
        failed ??= `${ref.name}: ${(error as Error).message}`;
      }
    }
    this.lastError = failed;
    return done;
  }

  /** Waits for queued work, then stops the timers. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
    await this.#queue;
  }
}
