// One run of a simulated fleet (fleet.ts): the devices as they live, each waking on its own schedule
// for a poll (and an install when one is staged, with a power cut in it when the seed says so), at most
// `concurrency` awake at once, and the counts and per-device outcomes the run reports.
import { join } from 'node:path';
import { seeded } from '../../core/seeded.ts';
import { type PollResult, UpdateAgent } from '../agent/agent.ts';
import type { Timing } from '../agent/limits.ts';
import { nextDelay } from '../agent/schedule.ts';
import { type AgentStateStore, memoryStateStore } from '../agent/state.ts';
import { PowerCut } from '../flash/simulated-flash.ts';
import type { FleetProgress, FleetResult, FleetRunOptions } from './fleet.ts';
import type { FleetMember } from './fleet-file.ts';
import { type ParkedFlash, parkFlash, unparkFlash } from './parked-flash.ts';
import { SimulatedDevice } from './simulated-device.ts';

/** The reason a device reports when an injected failure strikes after its install. */
export const INJECTED_FAILURE = 'SELF_TEST_FAILED';

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

export interface Live {
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

/** Every device of the run as it starts: its schedule's faults drawn from the seed, its flash parked. */
function liveDevices(options: FleetRunOptions, random: () => number): Live[] {
  return options.members.map((member, n) => ({
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
}

/** One run of the fleet: the devices, the shared counters, and each device's wakes. */
export class FleetRunner {
  readonly #o: FleetRunOptions;
  readonly #random: () => number;
  readonly #timing: Timing;
  readonly #slots: Slots;
  readonly stop = new AbortController();
  readonly devices: Live[];
  #started = performance.now();
  readonly counts = { awake: 0, updated: 0, failed: 0, requests: 0, bytes: 0, powerCuts: 0 };

  constructor(options: FleetRunOptions) {
    this.#o = options;
    this.#random = seeded(options.seed ?? 1);
    const interval = options.interval ?? 10;
    this.#timing = { interval, jitter: 0.1, backoff: Math.min(10, interval), backoffCap: 8 * interval };
    this.#slots = new Slots(Math.max(1, options.concurrency ?? 32));
    this.devices = liveDevices(options, this.#random);
  }

  /** The clock of the run starts now (after the agents are configured). */
  begin(): void {
    this.#started = performance.now();
  }

  elapsed(): number {
    return Math.round(performance.now() - this.#started);
  }

  progress(): FleetProgress {
    const { awake, updated, failed, requests, bytes } = this.counts;
    return { elapsedMs: this.elapsed(), total: this.devices.length, updated, failed, awake, requests, bytes };
  }

  #powerOn(d: Live, sim: SimulatedDevice): Promise<UpdateAgent> {
    return UpdateAgent.open({
      dir: d.dir,
      device: sim,
      stateStore: d.state,
      timing: this.#timing,
      // A fleet shares one core: give the server and the event loop room before calling it dead.
      network: {
        connectMs: 30_000,
        idleMs: 30_000,
        requestMs: 120_000,
        ...(d.localAddress ? { localAddress: d.localAddress } : {}),
      },
    });
  }

  /** What an agent's client sent and received, added to the device's and the run's counts. */
  #count(d: Live, agent: UpdateAgent): void {
    const { requests, bytes } = agent.client.stats;
    this.counts.requests += requests;
    this.counts.bytes += bytes;
    d.requests += requests;
    d.bytes += bytes;
  }

  /**
   * Cuts the power at a random flash operation while the new firmware is being written: in the first
   * half of the boot's operations, as counted on a copy (the second half erases staging, after the
   * install is complete). What the agent held in memory is gone: it starts again from its storage.
   */
  async #cutPowerMidInstall(d: Live, sim: SimulatedDevice, agent: UpdateAgent): Promise<UpdateAgent> {
    const probe = sim.clone();
    const before = probe.flash.operations;
    await probe.boot();
    const half = Math.floor((probe.flash.operations - before) / 2);
    sim.flash.cutPower({ after: 2 + Math.floor(this.#random() * Math.max(1, half - 2)), tear: true });
    try {
      await sim.boot();
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      this.counts.powerCuts++;
    }
    sim.flash.powerOn();
    this.#count(d, agent);
    agent.close();
    return this.#powerOn(d, sim);
  }

  /** One wake of one device: boot (the first time), one poll, and an install if it staged one. */
  async #wake(d: Live): Promise<PollResult['outcome']> {
    const { layout, model, pool, target } = this.#o;
    const flash = unparkFlash(d.flash);
    const sim = new SimulatedDevice(model, flash, layout);
    let agent = await this.#powerOn(d, sim);
    try {
      if (!d.booted) {
        await agent.reportBoot(await sim.boot());
        d.booted = true;
      }
      const result = await agent.poll();
      d.polls++;
      if (result.error) d.lastError = result.error.code;
      if (result.outcome === 'staged') {
        if (d.powerCut) agent = await this.#cutPowerMidInstall(d, sim, agent);
        const boot = await sim.boot();
        await agent.reportBoot(boot);
        if (boot.installed) d.attempts = boot.attempts;
        if (boot.trial && d.failure) {
          // The self-test fails: no confirmation; the watchdog reboots, and the bootloader reverts.
          await agent.reportError(INJECTED_FAILURE);
          await agent.reportBoot(await sim.boot());
          d.failed = true;
          this.counts.failed++;
        } else if (boot.trial) {
          agent.confirm();
        }
      }
      d.running = sim.bootState()?.running.version ?? 'unknown';
      if (d.running === target && d.updatedAtMs === null) {
        d.updatedAtMs = this.elapsed();
        this.counts.updated++;
      }
      return result.outcome;
    } finally {
      this.#count(d, agent);
      agent.close();
      d.flash = parkFlash(flash, layout, pool);
    }
  }

  /**
   * Whether the device still has something to do: reach the target (unless it failed), or deliver the
   * reports the server has not accepted yet (a report that met a busy server waits in the outbox until
   * the next poll, as on a real device).
   */
  async #busy(d: Live): Promise<boolean> {
    if (d.updatedAtMs === null && !d.failed) return true;
    return (await d.state.read()).outbox.length > 0;
  }

  /** A device's life: wake on its schedule until it runs the target and its reports are in, or the run stops. */
  async live(d: Live): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    let delay = this.#random() * this.#timing.interval * 1000;
    while (!signal.aborted && (await this.#busy(d))) {
      await sleep(delay, signal);
      if (signal.aborted) return;
      await this.#slots.take();
      this.counts.awake++;
      let outcome: PollResult['outcome'] = 'error';
      try {
        outcome = await this.#wake(d);
      } catch (error) {
        d.lastError = (error as { code?: string }).code ?? 'INTERNAL';
      } finally {
        this.counts.awake--;
        this.#slots.give();
      }
      failures = outcome === 'error' ? failures + 1 : 0;
      delay = nextDelay(this.#timing, failures, this.#random());
    }
  }

  async result(): Promise<FleetResult> {
    const { devices } = this;
    const { updated, failed, requests, bytes, powerCuts } = this.counts;
    const times = devices
      .map((d) => d.updatedAtMs)
      .filter((t): t is number => t !== null)
      .sort((a, b) => a - b);
    const outboxes = await Promise.all(devices.map((d) => d.state.read()));
    return {
      total: devices.length,
      updated,
      failed,
      notUpdated: devices.length - updated - failed,
      wallMs: this.elapsed(),
      timeTo: {
        p50: timeToShare(times, devices.length, 0.5),
        p90: timeToShare(times, devices.length, 0.9),
        p100: timeToShare(times, devices.length, 1),
      },
      requests,
      bytes,
      polls: devices.reduce((sum, d) => sum + d.polls, 0),
      powerCuts,
      undelivered: outboxes.reduce((sum, state) => sum + state.outbox.length, 0),
      devices: devices.map((d) => ({
        idx: d.member.idx,
        id: d.member.id,
        outcome: d.failed ? 'failed' : d.updatedAtMs === null ? 'not-updated' : 'updated',
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
}
