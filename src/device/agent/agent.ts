import type { Updater } from 'tuf-js';
import { keyIdOf } from '../../core/crypto/sign.ts';
import { type ErrorCode, SihlError } from '../../core/errors.ts';
import { fromHex, toHex } from '../../core/format/bytes.ts';
import { CREDENTIAL_BYTES } from '../../core/format/credential.ts';
import type { StatusReport } from '../../core/format/report.ts';
import { checkTableSlots, recipientIdFor } from '../../core/format/slot-table.ts';
import { REVOKED_ID_HEX, type TargetCustom, targetFilePath, targetNameOf } from '../../core/format/target.ts';
import { makeSignedReport } from '../report.ts';
import { type AgentConfig, agentPaths, readAgentConfig } from './config.ts';
import { type DownloadPlan, downloadToStaging } from './download.ts';
import { fetchEnvelope, fetchSlot, type TableKey } from './envelope.ts';
import { PinnedClient } from './https-client.ts';
import { AGENT_LIMITS, DEFAULT_TIMING, type Timing } from './limits.ts';
import { checkNotExpired, type Refreshed, refreshMetadata, tufError } from './refresh.ts';
import { refusesTarget, type TargetIdentity, withoutRefused } from './refusals.ts';
import { deliverReport, flushOutbox } from './reports.ts';
import { nextDelay, systemTimers, type Timers } from './schedule.ts';
import { type Candidate, chooseTarget } from './select.ts';
import type { AgentDevice } from './staging.ts';
import { type AgentState, type AgentStateStore, readAgentState, writeAgentState } from './state.ts';
import { TableReporter } from './table-reports.ts';
import type { Transport } from './transport.ts';
import { verifyStaged } from './verify-staged.ts';

export interface AgentOptions {
  /** The device's storage folder: agent.json, agent/tuf/, agent/state.json. */
  readonly dir: string;
  readonly device: AgentDevice;
  /** Overrides the server URL of agent.json. */
  readonly server?: string;
  /** Overrides agent.json's interval and the default backoff. */
  readonly timing?: Partial<Timing>;
  readonly timers?: Partial<Timers>;
  readonly network?: {
    readonly connectMs?: number;
    readonly idleMs?: number;
    readonly requestMs?: number;
    readonly localAddress?: string;
  };
  readonly pieceBytes?: number;
  /** Talks to the store through this instead of the pinned HTTPS client of agent.json (tests). */
  readonly transport?: Transport;
  /** Keeps agent/state.json's content elsewhere (in memory, for a simulated fleet). */
  readonly stateStore?: AgentStateStore;
  /** Makes flash writes survive a power cut (the simulator saves its flash file); before progress is saved. */
  readonly durable?: () => Promise<void>;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * retry-later: the release chosen arrived corrupt in staging last time, and its backoff runs. revoked:
 * the signed target entry lists this device as revoked; nothing is installed (docs/THREATS.md).
 * refused: the newest release for the device is a target it refused before, unchanged since (refusals.ts).
 */
export type PollOutcome =
  | 'unchanged'
  | 'up-to-date'
  | 'not-eligible'
  | 'revoked'
  | 'refused'
  | 'staged'
  | 'retry-later'
  | 'error';

export interface PollResult {
  readonly outcome: PollOutcome;
  readonly target?: string;
  readonly version?: string;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  /** Requests made and body bytes received during this poll. */
  readonly requests: number;
  readonly bytes: number;
}

/** What the bootloader said about a boot (src/device/bootloader BootReport). */
export interface BootOutcome {
  readonly outcome: 'booted' | 'rejected' | 'reverted' | 'halted';
  readonly installed: boolean;
  readonly attempts: number;
  readonly reason?: string;
  readonly running: { readonly version: string };
}

const TIMESTAMP = 'metadata/timestamp.json';
/** The reason an agent reports once when a release's signed entry lists it as revoked. */
export const REVOKED = 'REVOKED';

/** The table fields of a target entry; parseTargetCustom refuses tables without them. */
function tableKey(custom: TargetCustom): TableKey {
  return { salt: custom.salt ?? '', slots: checkTableSlots(custom.slots) };
}

/** Whether the signed entry lists this device's salted id among the revoked (recipients.ts revokedIds). */
function listsAsRevoked(custom: TargetCustom, box: Uint8Array): boolean {
  if (custom.revoked === undefined || custom.salt === undefined) return false;
  const mine = toHex(recipientIdFor(fromHex(custom.salt), box)).slice(0, REVOKED_ID_HEX);
  return custom.revoked.includes(mine);
}

function asSihlError(error: unknown): SihlError {
  if (error instanceof SihlError) return error;
  return new SihlError('INTERNAL', String((error as Error)?.stack ?? error), { cause: error });
}

type Checked = { outcome: PollOutcome; target?: string; version?: string };

export class UpdateAgent {
  readonly config: AgentConfig;
  /** Hex SHA-256 of the device's Ed25519 key, as the registry knows it. */
  readonly deviceId: string;
  /** The pinned HTTPS client, or the transport given (transport.ts). */
  readonly client: Transport;
  readonly #options: AgentOptions;
  readonly #timing: Timing;
  readonly #timers: Timers;
  #state: AgentState;
  /** Where reports go when agent.json names a log table; otherwise the server's /v1/reports. */
  #table: TableReporter | undefined;
  /** The target this poll is fetching, once chosen: its errors are reported against it. */
  #working: string | undefined;

  private constructor(options: AgentOptions, config: AgentConfig, state: AgentState) {
    this.#options = options;
    this.config = config;
    this.#state = state;
    this.#timing = { ...DEFAULT_TIMING, interval: config.interval, ...options.timing };
    this.#timers = { ...systemTimers, ...options.timers };
    this.deviceId = toHex(keyIdOf(options.device.secureElement.identity().sign));
    this.client =
      options.transport ??
      new PinnedClient({ server: config.server, certificate: config.certificate, ...options.network });
    this.#table = this.#tableReporter();
  }

  #tableReporter(): TableReporter | undefined {
    const { log } = this.config;
    if (log === undefined) return undefined;
    const sas = this.#state.logSas ?? log.sas;
    return new TableReporter(
      { table: log.table, sas },
      this.config.certificate,
      this.deviceId,
      this.#options.network,
    );
  }

  static async open(options: AgentOptions): Promise<UpdateAgent> {
    const config = await readAgentConfig(options.dir);
    const state = await (options.stateStore?.read() ?? readAgentState(options.dir));
    return new UpdateAgent(
      options,
      options.server === undefined ? config : { ...config, server: options.server },
      state,
    );
  }

  get state(): AgentState {
    return this.#state;
  }

  close(): void {
    this.client.close();
    this.#table?.close();
  }

  /** One poll: at most one request when nothing changed; otherwise refresh, download, verify, stage. */
  async poll(): Promise<PollResult> {
    const before = { ...this.client.stats };
    const result = (outcome: PollOutcome, extra: Partial<PollResult> = {}): PollResult => ({
      outcome,
      ...extra,
      requests: this.client.stats.requests - before.requests,
      bytes: this.client.stats.bytes - before.bytes,
    });
    this.#working = undefined;
    try {
      const found = await this.#check();
      if (found.outcome !== 'unchanged')
        await this.#save({ lastError: found.outcome === 'revoked' ? REVOKED : undefined });
      return result(found.outcome, found);
    } catch (caught) {
      const error = asSihlError(caught);
      if (this.#state.lastError !== error.code) {
        await this.#save({ lastError: error.code });
        // Naming the release it was fetching: a download or verification failure counts against it.
        const target = this.#working ? { target: this.#working } : {};
        await this.#report({ outcome: 'error', reason: error.code, ...target }).catch(() => {});
      }
      return result('error', { error: { code: error.code, message: error.message } });
    }
  }

  /** One poll's steps: the timestamp, the TUF refresh, the choice, and staging what was chosen. */
  async #check(): Promise<Checked> {
    const boot = this.#options.device.bootState();
    if (!boot) throw new SihlError('USAGE', 'the boot state is unreadable; boot the device first');
    if (this.#state.outbox.length > 0) await this.#flush();
    const timestamp = await this.#timestamp();
    if (timestamp === 'unchanged') return { outcome: 'unchanged' };
    const { etag } = timestamp;
    const refreshed = await this.#refresh(timestamp.body);
    const facts = {
      id: this.deviceId,
      model: this.#options.device.model,
      channel: this.config.channel,
      running: boot.running.version,
      ...(boot.phase === 'pending' && this.#state.staged ? { staged: this.#state.staged.version } : {}),
      refused: this.#state.refused,
    };
    const digestOf = (name: string) =>
      (refreshed.targets[name] as { hashes?: { sha256?: string } } | undefined)?.hashes?.sha256;
    // Targets refused before, still named unchanged, are not offered again: no byte of them is fetched.
    const { offered, kept } = withoutRefused(refreshed.targets, this.#state.refusals ?? []);
    if (kept.length !== (this.#state.refusals ?? []).length) await this.#save({ refusals: kept });
    const choice = chooseTarget(offered, facts, digestOf);
    if (choice.kind !== 'install') {
      await this.#save({ etag });
      const passed = kept.length > 0 ? chooseTarget(refreshed.targets, facts, digestOf) : choice;
      if (passed.kind === 'install') {
        const { name, custom } = passed.candidate;
        return { outcome: 'refused', target: name, version: custom.version };
      }
      return { outcome: choice.kind === 'up-to-date' ? 'up-to-date' : 'not-eligible' };
    }
    return this.#stage(refreshed, choice.candidate, etag);
  }

  /**
   * The cheap part: a conditional GET of the timestamp, unless a download is unfinished. "Nothing
   * changed" is the server's word, not TUF's: a mirror that answers 304 forever would freeze the device
   * unnoticed, so what the device trusts must still be in date (TUF's indefinite freeze).
   */
  async #timestamp(): Promise<'unchanged' | { etag: string | undefined; body: Uint8Array }> {
    const conditional = this.#state.etag !== undefined && this.#state.download === undefined;
    const response = await this.client.get({
      path: TIMESTAMP,
      limit: AGENT_LIMITS.timestampBytes,
      ...(conditional ? { etag: this.#state.etag } : {}),
    });
    if (response.status === 304 && conditional) {
      await checkNotExpired(agentPaths(this.#options.dir).metadata, new Date());
      return 'unchanged';
    }
    if (response.status !== 200)
      throw new SihlError('SERVER_ERROR', `GET ${TIMESTAMP}: HTTP ${response.status}`);
    const etag = typeof response.headers.etag === 'string' ? response.headers.etag : undefined;
    return { etag, body: response.body };
  }

  /** TUF client workflow 5.3 to 5.6, by tuf-js (refresh.ts). */
  #refresh(timestamp: Uint8Array): Promise<Refreshed> {
    return refreshMetadata(this.client, this.#options.dir, this.client.url(TIMESTAMP).href, timestamp);
  }

  /** The chosen target into staging: its envelope, the image (resuming), the checks, then pending. */
  async #stage(refreshed: Refreshed, candidate: Candidate, etag: string | undefined): Promise<Checked> {
    const { device } = this.#options;
    const { name, custom } = candidate;
    this.#working = name;
    let info: Awaited<ReturnType<Updater['getTargetInfo']>>;
    try {
      info = await refreshed.updater.getTargetInfo(name);
    } catch (error) {
      throw tufError(error, refreshed.fetcher);
    }
    const sha256 = info?.hashes.sha256;
    if (!info || !sha256 || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw new SihlError('TUF_METADATA_INCONSISTENT', `${name} has no SHA-256 in the verified targets`);
    }
    const corrupt = this.#state.corrupt;
    if (corrupt?.sha256 === sha256 && this.#timers.now().getTime() < corrupt.retryAt) {
      return { outcome: 'retry-later', target: name, version: custom.version };
    }
    const box = device.secureElement.identity().box;
    if (listsAsRevoked(custom, box)) {
      // Told once, as an error is: the operator sees that a revoked device still polls.
      if (this.#state.lastError !== REVOKED) await this.#report({ outcome: 'error', reason: REVOKED });
      await this.#save({ etag });
      return { outcome: 'revoked', target: name, version: custom.version };
    }
    let envelope: Uint8Array = new Uint8Array(0);
    if (custom.envelopes !== undefined) {
      const found = await fetchEnvelope(this.client, custom.envelopes, tableKey(custom), box);
      if (!found) {
        await this.#save({ etag });
        return { outcome: 'not-eligible', target: name, version: custom.version };
      }
      envelope = found;
    }
    if (typeof custom.credentials === 'string' && this.#table !== undefined)
      await this.#renewLogSas(custom.credentials, tableKey(custom));
    const plan = {
      target: name,
      version: custom.version,
      path: targetFilePath(name, sha256),
      length: info.length,
      sha256,
      envelope,
    };
    const identity = { target: name, length: info.length, hashes: { ...info.hashes } };
    const manifestDigest = await this.#download(plan, custom, { identity, etag });
    device.markPending(plan.length, envelope.length, manifestDigest);
    await this.#options.durable?.();
    await this.#save({
      etag,
      download: undefined,
      staged: { target: name, version: custom.version, sha256 },
    });
    return { outcome: 'staged', target: name, version: custom.version };
  }

  /**
   * Downloads into staging (resuming) and verifies as the bootloader will; refused bytes leave staging.
   * Returns the digest of the verified manifest, which the pending request is bound to.
   */
  async #download(
    plan: DownloadPlan,
    custom: Candidate['custom'],
    refusing: { readonly identity: TargetIdentity; readonly etag: string | undefined },
  ): Promise<Uint8Array> {
    const { device } = this.#options;
    let verifying = false;
    try {
      await downloadToStaging({
        client: this.client,
        staging: device,
        plan,
        progress: this.#state.download,
        save: async (download) => {
          await this.#options.durable?.();
          await this.#save({ download });
        },
        pieceBytes: this.#options.pieceBytes ?? AGENT_LIMITS.pieceBytes,
        ...(this.#options.onProgress ? { onProgress: this.#options.onProgress } : {}),
      });
      verifying = true;
      const running = device.bootState()?.running.version ?? 'unknown';
      return await verifyStaged(device, plan.length, plan.envelope, { version: custom.version, running });
    } catch (error) {
      if (error instanceof SihlError && error.family === 'verification') {
        // Refused bytes leave staging, and the next attempt starts from nothing.
        device.eraseStaging(0, plan.length + plan.envelope.length);
        await this.#options.durable?.();
        await this.#save({
          download: undefined,
          ...this.#afterRefusal(error.code, verifying, plan, refusing),
        });
      }
      throw error;
    }
  }

  /**
   * What to remember of a refusal so the same bytes are not fetched at every poll (docs/AGENT.md). Bytes
   * that matched the signed target and failed verification: the target itself, kept by identity with
   * the ETag (the next polls cost a 304; the reason is reported once: poll() reports when lastError
   * differs). Bytes that were not the signed ones, or an envelope that does not fit: the serving path,
   * fetched again after a backoff. Other failures (transport) leave the next poll to resume.
   */
  #afterRefusal(
    code: ErrorCode,
    verifying: boolean,
    plan: DownloadPlan,
    refusing: { readonly identity: TargetIdentity; readonly etag: string | undefined },
  ): Partial<AgentState> {
    if (verifying && refusesTarget(code)) {
      const others = (this.#state.refusals ?? []).filter((r) => r.target !== plan.target);
      const refusals = [...others, { ...refusing.identity, reason: code }];
      return { refusals, etag: refusing.etag, lastError: undefined };
    }
    if (verifying || code === 'TARGET_MISMATCH')
      return { etag: undefined, corrupt: this.#backoff(plan.sha256) };
    return {};
  }

  /** The next retry of a target whose bytes arrived damaged: a backoff doubling with each time in a row. */
  #backoff(sha256: string): NonNullable<AgentState['corrupt']> {
    const count = this.#state.corrupt?.sha256 === sha256 ? this.#state.corrupt.count + 1 : 1;
    const wait = nextDelay(this.#timing, count, this.#timers.random());
    return { sha256, count, retryAt: this.#timers.now().getTime() + wait };
  }

  /**
   * A release may bring this device a fresh log SAS, sealed to it in a credential box in its slot. It
   * replaces the one in use when it opens and is for this device's partition; anything else is ignored
   * (reports keep going with the SAS the device has).
   */
  async #renewLogSas(folder: string, table: TableKey): Promise<void> {
    // Laid out as the envelope tables (src/core/format/slot-table.ts), in slots of CREDENTIAL_BYTES.
    const { secureElement } = this.#options.device;
    try {
      const slot = await fetchSlot(
        this.client,
        folder,
        table,
        secureElement.identity().box,
        CREDENTIAL_BYTES,
      );
      if (slot === null) return;
      const sas = secureElement.openCredential(slot);
      if (sas === null || sas === this.#state.logSas) return;
      if (new URLSearchParams(sas).get('spk') !== this.deviceId) return;
      await this.#save({ logSas: sas });
      this.#table?.close();
      this.#table = this.#tableReporter();
    } catch (error) {
      if (!(error instanceof SihlError) || error.family === 'internal') throw error;
    }
  }

  /**
   * After each boot: what the bootloader did, as a signed report. A refusal of the image this agent
   * verified means staging changed under it (docs/AGENT.md): the release is downloaded again after a
   * backoff, never put aside. A trial that was reverted is a release that failed on this device.
   */
  async reportBoot(boot: BootOutcome): Promise<void> {
    const staged = this.#state.staged;
    const outcome: StatusReport['outcome'] = boot.installed
      ? 'installed'
      : boot.outcome === 'halted'
        ? 'error'
        : boot.outcome;
    await this.#report({
      outcome,
      running: boot.running.version,
      ...(boot.reason ? { reason: boot.reason } : {}),
      ...(boot.installed || boot.outcome === 'rejected' ? { attempts: boot.attempts } : {}),
      // Every outcome of an install names its release: a refusal, a revert or a halt counts against it.
      ...(this.#aboutTarget(boot) ? { target: this.#aboutTarget(boot) } : {}),
    });
    if (staged && boot.outcome === 'reverted') {
      await this.#save({ staged: undefined, refused: [...this.#state.refused, staged.sha256] });
    } else if (staged && this.#options.device.bootState()?.phase !== 'pending') {
      if (boot.outcome !== 'rejected')
        return this.#save({ staged: undefined, ...(boot.installed ? { installed: staged.target } : {}) });
      await this.#corruptStaging(staged.sha256);
    }
  }

  /** The bootloader refused what this agent verified: fetch it again after a growing backoff. */
  async #corruptStaging(sha256: string): Promise<void> {
    // No ETag: the same timestamp must lead to the same target again, once the backoff has run.
    await this.#save({ staged: undefined, etag: undefined, corrupt: this.#backoff(sha256) });
  }

  /** The application passed its self-test on a trial boot: keep the new firmware (docs/BOOT.md §Confirmation). */
  confirm(): void {
    this.#options.device.confirm();
  }

  /** The application's own verdict after a boot, e.g. a self-test that failed: an `error` report. */
  async reportError(reason: string): Promise<void> {
    const { device } = this.#options;
    const running = device.bootState()?.running.version;
    const installed = this.#state.installed;
    const about = running && installed === targetNameOf(device.model, running) ? { target: installed } : {};
    await this.#report({ outcome: 'error', reason, ...about });
  }

  /** The release a boot's report is about: the one staged, or for a revert the one installed last. */
  #aboutTarget(boot: BootOutcome): string | undefined {
    const staged = this.#state.staged;
    if (boot.installed || boot.outcome === 'rejected' || boot.outcome === 'halted') return staged?.target;
    if (boot.outcome === 'reverted') return staged?.target ?? this.#state.installed;
    return undefined;
  }

  async #report(fields: Pick<StatusReport, 'outcome'> & Partial<StatusReport>): Promise<void> {
    const { device } = this.#options;
    const seq = this.#state.seq + 1;
    const report = makeSignedReport(device.secureElement, {
      seq,
      time: Math.floor(this.#timers.now().getTime() / 1000),
      model: device.model,
      running: device.bootState()?.running.version ?? 'unknown',
      ...fields,
    });
    await this.#save({ seq, outbox: [...this.#state.outbox, Buffer.from(report).toString('base64')] });
    await this.#flush();
  }

  async #flush(): Promise<void> {
    const table = this.#table;
    const deliver = table
      ? (report: Uint8Array) => table.deliver(report)
      : (report: Uint8Array) => deliverReport(this.client, report);
    const { left } = await flushOutbox(deliver, this.#state.outbox);
    if (left.length !== this.#state.outbox.length) await this.#save({ outbox: left });
  }

  async #save(patch: Partial<AgentState>): Promise<void> {
    this.#state = { ...this.#state, ...patch };
    const store = this.#options.stateStore;
    await (store ? store.write(this.#state) : writeAgentState(this.#options.dir, this.#state));
  }

  /**
   * Polls until `signal` aborts (or once): after a poll that staged an update, `onStaged` reboots the
   * device (and should call reportBoot). Errors back off exponentially; every delay has jitter.
   */
  async run(options: {
    readonly signal?: AbortSignal;
    readonly once?: boolean;
    readonly onStaged?: (result: PollResult) => Promise<void>;
    readonly onPoll?: (result: PollResult) => void;
  }): Promise<PollResult> {
    let failures = 0;
    for (;;) {
      const result = await this.poll();
      if (result.outcome === 'staged') await options.onStaged?.(result);
      failures = result.outcome === 'error' ? failures + 1 : 0;
      options.onPoll?.(result);
      if (options.once === true || options.signal?.aborted === true) return result;
      await this.#timers.sleep(nextDelay(this.#timing, failures, this.#timers.random()), options.signal);
      if (options.signal?.aborted) return result;
    }
  }
}
