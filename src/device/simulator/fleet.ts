// A fleet of simulated devices in one process, each running the real update agent against a real HTTPS
// server: every device wakes on its own schedule (the agent's interval, backoff and jitter), boots
// through its bootloader the first time, polls, and when its agent stages an update, reboots to install
// it and reports. At most `concurrency` devices are awake at once; a sleeping device's flash is parked
// (parked-flash.ts). Power cuts can be injected during installs, and failures after them (the device's
// own self-test fails on the trial boot: an `error` report with reason SELF_TEST_FAILED, no confirmation,
// and the next boot reverts to the old firmware and reports `reverted`, as an operator's rollout sees it).
// The run yields progress and ends when every device runs the target version and the server has accepted
// its reports (a report turned away waits for the device's next poll), or at the deadline.

import { writeAgentConfig } from '../agent/config.ts';
import type { Layout } from '../bootloader/layout.ts';
import type { FleetMember } from './fleet-file.ts';
import { FleetRunner, type Live } from './fleet-runner.ts';
import type { SectorPool } from './parked-flash.ts';

export { INJECTED_FAILURE, loopbackAddress } from './fleet-runner.ts';

export interface FleetRunOptions {
  readonly model: string;
  readonly layout: Layout;
  readonly members: readonly FleetMember[];
  readonly pool: SectorPool;
  /** The store's https URL and its certificate (PEM), which every device pins. */
  readonly server: string;
  readonly certificate: string;
  /** The first TUF root (store/metadata/1.root.json). */
  readonly trustedRoot: Uint8Array;
  /** The version every device should end up running. */
  readonly target: string;
  /** A folder for the agents' files, one sub-folder per device; the caller removes it. */
  readonly storage: string;
  readonly channel?: string;
  /** Seconds between a device's polls (default 10); the first poll falls at random within one interval. */
  readonly interval?: number;
  /** Devices awake at once (default 32). */
  readonly concurrency?: number;
  /** Share of devices whose install is cut by a power failure (0 to 1). */
  readonly powerCutRate?: number;
  /** Share of devices that report a failure after their install (0 to 1). */
  readonly failureRate?: number;
  /** Milliseconds until the run gives up on devices not yet updated (default 10 minutes). */
  readonly deadlineMs?: number;
  /** Seed of the randomness that picks schedules, power cuts and failures (not a secret). */
  readonly seed?: number;
  /**
   * Each device connects from its own loopback address (127.10.0.2, …), as devices of a real fleet come
   * from their own addresses and the server limits reports per address. Only for a server on 127.0.0.0/8.
   */
  readonly loopbackAddresses?: boolean;
  /** Milliseconds between progress events (default 250). */
  readonly progressMs?: number;
  readonly signal?: AbortSignal;
}

export interface FleetProgress {
  readonly elapsedMs: number;
  readonly total: number;
  /** Devices running the target version, confirmed. */
  readonly updated: number;
  readonly failed: number;
  readonly awake: number;
  readonly requests: number;
  readonly bytes: number;
}

export interface DeviceOutcome {
  readonly idx: number;
  readonly id: string;
  /**
   * updated; failed: installed, failed its self-test on trial (injected) and was reverted; not-updated:
   * not by the deadline.
   */
  readonly outcome: 'updated' | 'failed' | 'not-updated';
  readonly running: string;
  /** Milliseconds from the start until it ran the target version. */
  readonly updatedAtMs: number | null;
  /** Installs begun for the target (2 after a power cut). */
  readonly attempts: number | null;
  readonly powerCut: boolean;
  readonly polls: number;
  readonly requests: number;
  readonly bytes: number;
  /** The code of the last poll that failed. */
  readonly lastError: string | null;
}

export interface FleetResult {
  readonly total: number;
  readonly updated: number;
  readonly failed: number;
  readonly notUpdated: number;
  readonly wallMs: number;
  /** Milliseconds until 50, 90 and 100 % of the devices ran the target version; null if never. */
  readonly timeTo: { readonly p50: number | null; readonly p90: number | null; readonly p100: number | null };
  /** Requests the server answered (or that failed on the way), and body bytes received. */
  readonly requests: number;
  readonly bytes: number;
  readonly polls: number;
  readonly powerCuts: number;
  /** Signed status reports the server had not accepted when the run ended (kept by the devices). */
  readonly undelivered: number;
  readonly devices: DeviceOutcome[];
}

/** Provisioning's last step for every device: server, pinned certificate, index, first root. */
async function configureAgents(devices: readonly Live[], options: FleetRunOptions): Promise<void> {
  for (let at = 0; at < devices.length; at += 64) {
    await Promise.all(
      devices.slice(at, at + 64).map((d) =>
        writeAgentConfig(
          d.dir,
          {
            server: options.server,
            certificate: options.certificate,
            index: d.member.idx,
            channel: options.channel ?? 'stable',
            interval: options.interval ?? 10,
          },
          options.trustedRoot,
        ),
      ),
    );
  }
}

async function execute(options: FleetRunOptions, emit: (p: FleetProgress) => void): Promise<FleetResult> {
  const run = new FleetRunner(options);
  const abort = () => run.stop.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  await configureAgents(run.devices, options);
  run.begin();
  const ticker = setInterval(() => emit(run.progress()), options.progressMs ?? 250);
  const deadline = setTimeout(abort, options.deadlineMs ?? 600_000);
  try {
    await Promise.all(run.devices.map((d) => run.live(d)));
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', abort);
  }
  emit(run.progress());
  return run.result();
}

/** Runs the fleet; yields progress every `progressMs`, and returns the result. */
export async function* runFleet(options: FleetRunOptions): AsyncGenerator<FleetProgress, FleetResult> {
  let latest: FleetProgress | undefined;
  let notify: (() => void) | undefined;
  let ended: { result: FleetResult } | { error: unknown } | undefined;
  execute(options, (p) => {
    latest = p;
    notify?.();
  }).then(
    (result) => {
      ended = { result };
      notify?.();
    },
    (error) => {
      ended = { error };
      notify?.();
    },
  );
  for (;;) {
    if (latest) {
      const p = latest;
      latest = undefined;
      yield p;
      continue;
    }
    if (ended) break;
    await new Promise<void>((resolve) => {
      notify = resolve;
    });
    notify = undefined;
  }
  if ('error' in ended) throw ended.error;
  return ended.result;
}

/** runFleet without the generator: progress to a callback. */
export async function simulateFleet(
  options: FleetRunOptions,
  onProgress?: (p: FleetProgress) => void,
): Promise<FleetResult> {
  const run = runFleet(options);
  for (;;) {
    const next = await run.next();
    if (next.done) return next.value;
    onProgress?.(next.value);
  }
}
