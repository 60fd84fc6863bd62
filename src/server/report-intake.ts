// POST /v1/reports (docs/SERVER.md §Reports): a device's signed status report goes into the log store
// only if the device is registered, not revoked, signed it with its registered key, speaks only of its
// own model's and channel's releases, and its sequence number rises. Bodies are bounded before they are read; rates are limited per address and per device.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.ts';
import {
  decodeSignedReport,
  REPORT_MAX_BYTES,
  type StatusReport,
  verifySignedReport,
} from '../core/format/report.ts';
import type { LogStore } from '../storage/log-store.ts';
import type { RegisteredDevice as Device, DeviceLookup } from './device-lookup.ts';
import { type RateLimit, TokenBuckets } from './token-buckets.ts';

export interface ReportIntakeOptions {
  readonly devices: DeviceLookup;
  readonly logStore: LogStore;
  readonly now: Clock;
  /** Accepted reports per device. */
  readonly deviceLimit: RateLimit;
  /** Report requests per client address, accepted or not. */
  readonly addressLimit: RateLimit;
}

type Reply = { status: number; text?: string; headers?: Record<string, string> };

function send(res: ServerResponse, reply: Reply): number {
  const body = reply.text === undefined ? undefined : `${reply.text}\n`;
  res.writeHead(reply.status, {
    ...(body === undefined
      ? {}
      : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }),
    ...reply.headers,
  });
  res.end(body);
  return reply.status;
}

/** The body, or undefined once more than `limit` bytes arrived (the rest is never read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(parts, length)));
    req.once('error', reject);
  });
}

export class ReportIntake {
  readonly #options: ReportIntakeOptions;
  readonly #perDevice: TokenBuckets;
  readonly #perAddress: TokenBuckets;
  /** Highest sequence number stored per device, loaded from the log store on first sight. */
  readonly #lastSeq = new Map<string, number>();
  /** One report per device at a time, so two copies of one report cannot both pass the replay check. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: ReportIntakeOptions) {
    this.#options = options;
    this.#perDevice = new TokenBuckets(options.deviceLimit, options.now);
    this.#perAddress = new TokenBuckets(options.addressLimit, options.now);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    if (req.method !== 'POST')
      return send(res, { status: 405, text: 'POST only', headers: { allow: 'POST' } });
    const address = this.#perAddress.take(req.socket.remoteAddress ?? '');
    if (!address.ok) return tooMany(res, address.retryAfter);
    const type = req.headers['content-type'] ?? '';
    if (type.split(';')[0]?.trim().toLowerCase() !== 'application/octet-stream') {
      return send(res, { status: 415, text: 'a report is application/octet-stream' });
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > REPORT_MAX_BYTES) return tooLarge(res);
    const bytes = await readBody(req, REPORT_MAX_BYTES);
    if (bytes === undefined) return tooLarge(res);

    let deviceId: string;
    try {
      deviceId = decodeSignedReport(bytes).report.device;
    } catch (error) {
      return send(res, { status: 400, text: `malformed report: ${(error as Error).message}` });
    }
    // §Reports: registered and not revoked, and signed by the key registered for the id it claims.
    const device = this.#options.devices.get(deviceId);
    if (!device || device.revokedAt !== null) return send(res, { status: 403, text: 'refused' });
    let report: StatusReport;
    try {
      report = verifySignedReport(bytes, device.sign);
    } catch {
      return send(res, { status: 403, text: 'refused' });
    }
    // Only verified reports spend a device's tokens, so nobody can throttle another device; the device's
    // own refused reports spend them too, so it cannot send unlimited ones that each read the store.
    const limited = this.#perDevice.take(deviceId);
    if (!limited.ok) return tooMany(res, limited.retryAfter);
    // §Reports: a device speaks only for its registered model and that model's targets, so a device of
    // one model cannot count towards (or against) another model's rollout.
    const foreign =
      report.model !== device.model || !(report.target ?? `${device.model}/`).startsWith(`${device.model}/`);
    if (foreign) return send(res, { status: 403, text: `refused: not a report of a ${device.model} device` });
    // §Reports: nor for another channel's release, which was never offered to it (docs/ROLLOUTS.md).
    const offChannel = await this.#offChannel(device, report.target);
    if (offChannel) return send(res, { status: 403, text: `refused: ${offChannel}` });
    const seq = report.seq;
    return send(res, await this.#serialised(deviceId, () => this.#store(device, seq, bytes)));
  }

  /** Why a report about `target` is not the device's to make: a release of another channel. */
  async #offChannel(device: Device, target: string | undefined): Promise<string | undefined> {
    const { releaseChannel } = this.#options.devices;
    if (target === undefined || device.channel === undefined || releaseChannel === undefined)
      return undefined;
    const channel = await releaseChannel(target);
    if (channel === undefined || channel === device.channel) return undefined;
    return `${target} is published on channel ${channel}, not on the device's channel ${device.channel}`;
  }

  async #store(device: Device, seq: number, bytes: Uint8Array): Promise<Reply> {
    try {
      const last = await this.#last(device);
      // §Reports: a report whose sequence number does not rise is a replay (or a device reset).
      if (seq <= last) return { status: 409, text: `sequence number must be above ${last}` };
      await this.#options.logStore.append(device.id, [{ received: this.#options.now(), report: bytes }]);
      this.#lastSeq.set(device.id, seq);
      return { status: 204 };
    } catch {
      return { status: 503, text: 'the log store is unavailable', headers: { 'retry-after': '10' } };
    }
  }

  async #last(device: Device): Promise<number> {
    const known = this.#lastSeq.get(device.id);
    if (known !== undefined) return known;
    let last = -1;
    for await (const entry of this.#options.logStore.query({ deviceId: device.id })) {
      try {
        last = Math.max(last, verifySignedReport(entry.report, device.sign).seq);
      } catch {
        // An entry its device did not sign says nothing about the device's sequence.
      }
    }
    this.#lastSeq.set(device.id, last);
    return last;
  }

  async #serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(key) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => {});
    this.#queues.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    }
  }
}

function tooMany(res: ServerResponse, retryAfter: number): number {
  return send(res, { status: 429, text: 'too many reports', headers: { 'retry-after': String(retryAfter) } });
}

function tooLarge(res: ServerResponse): number {
  // The rest of the body is not read: the connection is closed after the answer.
  return send(res, {
    status: 413,
    text: `a report is at most ${REPORT_MAX_BYTES} bytes`,
    headers: { connection: 'close' },
  });
}
