// A fleet of simulated devices in one process, each running the real update agent against a real HTTPS
// server: every device wakes on its own schedule (the agent's interval, backoff and jitter), boots
// through its bootloader the first time, polls, and when its agent stages an update, reboots to install
// it and reports. At most `concurrency` devices are awake at once; a sleeping device's flash is parked
// (parked-flash.ts). Power cuts can be injected during installs, and failures after them (the device's
// own self-test fails: an `error` report with reason SELF_TEST_FAILED, as an operator's rollout sees it).
// The run yields progress and ends when every device runs the target version, or at the deadline.
import { join } from 'node:path';
import { seeded } from '../../core/seeded.ts';
import { type PollResult, UpdateAgent } from '../agent/agent.ts';
import { writeAgentConfig } from '../agent/config.ts';
import type { Timing } from '../agent/limits.ts';
import { nextDelay } from '../agent/schedule.ts';
import { type AgentStateStore, memoryStateStore } from '../agent/state.ts';
import type { Layout } from '../bootloader/layout.ts';
import { PowerCut } from '../flash/simulated-flash.ts';
import type { FleetMember } from './fleet-file.ts';
import { type ParkedFlash, parkFlash, type SectorPool, unparkFlash } from './parked-flash.ts';
import { SimulatedDevice } from './simulated-device.ts';

/** The reason a device reports when an injected failure strikes after its install. */
export const INJECTED_FAILURE = 'SELF_TEST_FAILED';

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
  /** Devices running the target version (failed ones included). */
  readonly updated: number;
  readonly failed: number;
  readonly awake: number;
  readonly requests: number;
  readonly bytes: number;
}

export interface DeviceOutcome {
  readonly idx: number;
  readonly id: string;
  /** updated; failed: updated, then reported a failure (injected); not-updated: not by the deadline. */
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

class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

interface Live {
  readonly member: FleetMember;
  readonly dir: string;
  readonly powerCut: boolean;
  readonly failure: boolean;
  /** The agent's state, in memory (its TUF metadata and configuration are files under `dir`). */
  readonly state: AgentStateStore;
  readonly localAddress: string | undefined;
  flash: ParkedFlash;
  booted: boolean;
  running: string;
  updatedAtMs: number | null;
  attempts: number | null;
  failed: boolean;
  polls: number;
  requests: number;
  bytes: number;
  lastError: string | null;
}

/** The n-th device's loopback address: 127.10.0.2 onwards, never .0, .1 or .255 in the last place. */
export function loopbackAddress(n: number): string {
  return `127.${10 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;
}

/** Milliseconds until `share` of `total` devices had updated, from the sorted update times. */
function timeToShare(times: readonly number[], total: number, share: number): number | null {
  const needed = Math.max(1, Math.ceil(total * share));
  return times.length >= needed ? (times[needed - 1] as number) : null;
}

async function execute(options: FleetRunOptions, emit: (p: FleetProgress) => void): Promise<FleetResult> {
  const random = seeded(options.seed ?? 1);
  const interval = options.interval ?? 10;
  const timing: Timing = { interval, jitter: 0.1, backoff: Math.min(10, interval), backoffCap: 8 * interval };
  const slots = new Slots(Math.max(1, options.concurrency ?? 32));
  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  const { layout, model, pool, target } = options;

  const devices: Live[] = options.members.map((member, n) => ({
    member,
    dir: join(options.storage, String(member.idx)),
    powerCut: random() < (options.powerCutRate ?? 0),
    failure: random() < (options.failureRate ?? 0),
    // Report numbers must rise across runs of the same devices (the server refuses replays).
    state: memoryStateStore({ refused: [], outbox: [], seq: Date.now() }),
    localAddress: options.loopbackAddresses ? loopbackAddress(n) : undefined,
    flash: member.flash,
    booted: false,
    running: '',
    updatedAtMs: null,
    attempts: null,
    failed: false,
    polls: 0,
    requests: 0,
    bytes: 0,
    lastError: null,
  }));
  // Provisioning's last step for every device: server, pinned certificate, index, first root.
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
            interval,
          },
          options.trustedRoot,
        ),
      ),
    );
  }

  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let awake = 0;
  let updated = 0;
  let failed = 0;
  let requests = 0;
  let bytes = 0;
  let powerCuts = 0;
  const progress = (): FleetProgress => ({
    elapsedMs: elapsed(),
    total: devices.length,
    updated,
    failed,
    awake,
    requests,
    bytes,
  });

  const powerOn = (d: Live, sim: SimulatedDevice) =>
    UpdateAgent.open({
      dir: d.dir,
      device: sim,
      stateStore: d.state,
      timing,
      // A fleet shares one core: give the server and the event loop room before calling it dead.
      network: {
        connectMs: 30_000,
        idleMs: 30_000,
        requestMs: 120_000,
        ...(d.localAddress ? { localAddress: d.localAddress } : {}),
      },
    });

  /** One wake of one device: boot (the first time), one poll, and an install if it staged one. */
  const wake = async (d: Live): Promise<PollResult['outcome']> => {
    const flash = unparkFlash(d.flash);
    const sim = new SimulatedDevice(model, flash, layout);
    let agent = await powerOn(d, sim);
    try {
      if (!d.booted) {
        await agent.reportBoot(await sim.boot());
        d.booted = true;
      }
      const result = await agent.poll();
      d.polls++;
      if (result.error) d.lastError = result.error.code;
      if (result.outcome === 'staged') {
        if (d.powerCut) {
          // Cut the power at a random flash operation while the new firmware is being written: in the
          // first half of the boot's operations, as counted on a copy (the second half erases staging,
          // after the install is complete).
          const probe = sim.clone();
          const before = probe.flash.operations;
          await probe.boot();
          const half = Math.floor((probe.flash.operations - before) / 2);
          sim.flash.cutPower({ after: 2 + Math.floor(random() * Math.max(1, half - 2)), tear: true });
          try {
            await sim.boot();
          } catch (error) {
            if (!(error instanceof PowerCut)) throw error;
            powerCuts++;
          }
          sim.flash.powerOn();
          // What the agent held in memory is gone with the power: it starts again from its storage.
          requests += agent.client.stats.requests;
          bytes += agent.client.stats.bytes;
          d.requests += agent.client.stats.requests;
          d.bytes += agent.client.stats.bytes;
          agent.close();
          agent = await powerOn(d, sim);
        }
        const boot = await sim.boot();
        await agent.reportBoot(boot);
        if (boot.installed) d.attempts = boot.attempts;
        if (boot.running.version === target && d.failure) {
          await agent.reportError(INJECTED_FAILURE);
          d.failed = true;
          failed++;
        }
      }
      d.running = sim.bootState()?.running.version ?? 'unknown';
      if (d.running === target && d.updatedAtMs === null) {
        d.updatedAtMs = elapsed();
        updated++;
      }
      return result.outcome;
    } finally {
      requests += agent.client.stats.requests;
      bytes += agent.client.stats.bytes;
      d.requests += agent.client.stats.requests;
      d.bytes += agent.client.stats.bytes;
      agent.close();
      d.flash = parkFlash(flash, layout, pool);
    }
  };

  const live = async (d: Live): Promise<void> => {
    let failures = 0;
    let delay = random() * interval * 1000;
    while (d.updatedAtMs === null && !stop.signal.aborted) {
      await sleep(delay, stop.signal);
      if (stop.signal.aborted) return;
      await slots.take();
      awake++;
      let outcome: PollResult['outcome'] = 'error';
      try {
        outcome = await wake(d);
      } catch (error) {
        d.lastError = (error as { code?: string }).code ?? 'INTERNAL';
      } finally {
        awake--;
        slots.give();
      }
      failures = outcome === 'error' ? failures + 1 : 0;
      delay = nextDelay(timing, failures, random());
    }
  };

  const ticker = setInterval(() => emit(progress()), options.progressMs ?? 250);
  const deadline = setTimeout(abort, options.deadlineMs ?? 600_000);
  try {
    await Promise.all(devices.map(live));
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', abort);
  }
  emit(progress());

  const times = devices
    .map((d) => d.updatedAtMs)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  return {
    total: devices.length,
    updated,
    failed,
    notUpdated: devices.length - updated,
    wallMs: elapsed(),
    timeTo: {
      p50: timeToShare(times, devices.length, 0.5),
      p90: timeToShare(times, devices.length, 0.9),
      p100: timeToShare(times, devices.length, 1),
    },
    requests,
    bytes,
    polls: devices.reduce((sum, d) => sum + d.polls, 0),
    powerCuts,
    undelivered: (await Promise.all(devices.map((d) => d.state.read()))).reduce(
      (sum, state) => sum + state.outbox.length,
      0,
    ),
    devices: devices.map((d) => ({
      idx: d.member.idx,
      id: d.member.id,
      outcome: d.updatedAtMs === null ? 'not-updated' : d.failed ? 'failed' : 'updated',
      running: d.running || 'unknown',
      updatedAtMs: d.updatedAtMs,
      attempts: d.attempts,
      powerCut: d.powerCut,
      polls: d.polls,
      requests: d.requests,
      bytes: d.bytes,
      lastError: d.lastError,
    })),
  };
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
