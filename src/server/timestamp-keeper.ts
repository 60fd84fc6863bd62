// `sihl serve` keeps the timestamp fresh itself (docs/SERVER.md §Timestamp refresh): devices refuse an
// expired one (TUF_METADATA_EXPIRED), so a server whose scheduled job stopped would strand the fleet. Every
// `everyMs` it reads the served timestamp and, once half its life is gone, re-signs it (and a lapsing
// snapshot) as `sihl timestamp refresh` does, mirroring to a cloud store. A failure is reported and tried
// again at the next look; it never stops the server.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Mirrored } from '../publisher/cloud-store.ts';
import { HeldKeys, type Passphrases, roleSigners } from '../publisher/role-keys.ts';
import { refreshTimestamp, type TimestampRefresh } from '../publisher/timestamp.ts';
import { TIMESTAMP_LIFETIME_MS } from '../publisher/tuf/expiry.ts';
import type { Workspace } from '../publisher/workspace.ts';
import type { Env } from '../storage/locations.ts';

/** How often the timestamp is looked at by default: it lives a day and is renewed after half of it. */
export const TIMESTAMP_CHECK_MS = 10 * 60 * 1000;

export interface TimestampKeeperOptions {
  readonly workspace: Workspace;
  /** The online keys' passphrases (timestamp, snapshot), asked once at start to check they open. */
  readonly passphrases: Passphrases;
  readonly env: Env;
  readonly now?: Clock;
  readonly everyMs?: number;
  readonly onRefresh?: (refresh: Mirrored<TimestampRefresh>) => void;
  readonly onError?: (error: unknown) => void;
  /** Runs a refresh after the server's other publications (the console's queue), so none race. */
  readonly queue?: <T>(work: () => Promise<T>) => Promise<T>;
}

export interface TimestampKeeper {
  /** One look now (what the timer does): refreshes when due; resolves once done. */
  check(): Promise<void>;
  /** Stops the timer and waits for a refresh under way. */
  close(): Promise<void>;
}

/** When the served timestamp expires, or undefined when nothing is published yet. */
async function servedExpiry(workspace: Workspace): Promise<Date | undefined> {
  let text: string;
  try {
    text = await readFile(join(workspace.storeDir, 'metadata', 'timestamp.json'), 'utf8');
  } catch {
    return undefined;
  }
  const expires = JSON.parse(text)?.signed?.expires;
  return typeof expires === 'string' ? new Date(expires) : undefined;
}

/**
 * Checks that the timestamp and snapshot keys open with the passphrases given (a wrong one stops the
 * start, not a refresh a day later), then looks at the timestamp at once and every `everyMs`.
 */
export async function startTimestampKeeper(options: TimestampKeeperOptions): Promise<TimestampKeeper> {
  const { workspace, passphrases } = options;
  {
    using held = new HeldKeys();
    held.hold(await roleSigners(workspace, 'timestamp', passphrases));
    held.hold(await roleSigners(workspace, 'snapshot', passphrases));
  }
  const now = options.now ?? systemClock;
  let running: Promise<void> | undefined;
  const look = async () => {
    const expires = await servedExpiry(workspace);
    if (expires === undefined || now().getTime() < expires.getTime() - TIMESTAMP_LIFETIME_MS / 2) return;
    const refresh = () =>
      refreshTimestamp(workspace, passphrases, { now, cwd: workspace.dir, env: options.env });
    const refreshed = await (options.queue ? options.queue(refresh) : refresh());
    options.onRefresh?.(refreshed);
  };
  const check = () => {
    running ??= look()
      .catch((error) => options.onError?.(error))
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(check, options.everyMs ?? TIMESTAMP_CHECK_MS);
  timer.unref();
  await check();
  return {
    check,
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
