// Rollout test set-up: a workspace (made through the CLI) with a release of Pybricks 7.28.0 for movehub,
// N devices registered straight into the registry with real key pairs, and light devices that speak to
// the server over real HTTPS: read the published targets, pick a target with the agent's own chooser,
// fetch their envelope slot and open it with their X25519 key, and send Ed25519-signed reports. They skip
// TUF verification, the image download and the flash install (the agent tests cover those), so a
// thousand of them run in seconds in one process.
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import {
  type BoxKeyPair,
  generateBoxKeyPair,
  generateSigningKeyPair,
  keyIdOf,
  type SigningKeyPair,
  sign,
} from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { decodeEnvelope, openEnvelope } from '../../src/core/format/envelope.ts';
import {
  encodeReport,
  encodeSignedReport,
  reportMessage,
  type StatusReport,
} from '../../src/core/format/report.ts';
import { fetchEnvelope } from '../../src/device/agent/envelope.ts';
import { chooseTarget } from '../../src/device/agent/select.ts';
import type { Transport } from '../../src/device/agent/transport.ts';
import { openRegistry } from '../../src/publisher/registry.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import type { LogStore } from '../../src/storage/log-store.ts';
import { shipRelease, world } from '../support/world.ts';

export const RELEASE = 'movehub-7.28.0';
export const TARGET = 'movehub/movehub-7.28.0.sihl';

export interface LightDevice {
  readonly idx: number;
  readonly id: string;
  readonly sign: SigningKeyPair;
  readonly box: BoxKeyPair;
  running: string;
  seq: number;
}

export interface RolloutFleet {
  readonly cwd: string;
  readonly workspace: Workspace;
  readonly devices: LightDevice[];
}

/** A device's signing and box key pairs, made again until `accept` takes the device id. */
function lightKeys(accept: (id: string) => boolean): { sign: SigningKeyPair; box: BoxKeyPair } {
  for (;;) {
    const keys = { sign: generateSigningKeyPair(), box: generateBoxKeyPair() };
    if (accept(toHex(keyIdOf(keys.sign.publicKey)))) return keys;
  }
}

/**
 * `count` light devices of `model` running 7.27.0, registered straight into the workspace's registry
 * (on `channel`); with `accept`, only devices whose id it takes (those of a rollout stage, say).
 */
export function registerLightDevices(
  workspace: Workspace,
  count: number,
  model = 'movehub',
  accept: (id: string) => boolean = () => true,
  channel = 'stable',
): LightDevice[] {
  const keys = Array.from({ length: count }, () => lightKeys(accept));
  const registry = openRegistry(workspace.registryPath);
  const provisioned = registry.provisionMany(
    keys.map((k) => ({
      sign: k.sign.publicKey,
      box: k.box.publicKey,
      model,
      channel,
      owner: 'ACME',
      now: 1,
    })),
  );
  registry.close();
  return provisioned.map((p, i) => ({
    ...p,
    ...(keys[i] as (typeof keys)[number]),
    running: '7.27.0',
    seq: 0,
  }));
}

/** A workspace with `count` movehub devices on 7.27.0 and 7.28.0 published to `rollout` percent. */
export async function makeRolloutFleet(count: number, rollout: number): Promise<RolloutFleet> {
  const { cwd } = await world().build();
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const devices = registerLightDevices(workspace, count);
  await shipRelease(cwd, '7.28.0', { rollout });
  return { cwd, workspace, devices };
}

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: Record<string, string | string[] | undefined>;
}

export interface Http {
  get(path: string, range?: [number, number]): Promise<Reply>;
  post(path: string, body: Uint8Array, headers?: Record<string, string>): Promise<Reply>;
  request(method: string, path: string, headers: Record<string, string>, body?: Uint8Array): Promise<Reply>;
  close(): void;
}

/** HTTPS to `url` pinning `cert`, over kept-alive connections. */
export function https(url: string, cert: string, sockets = 32): Http {
  const agent = new Agent({ ca: cert, keepAlive: true, maxSockets: sockets });
  const call = (method: string, path: string, headers: Record<string, string | number>, body?: Uint8Array) =>
    new Promise<Reply>((resolve, reject) => {
      const req = request(new URL(path, url), { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    get: (path, range) => call('GET', path, range ? { range: `bytes=${range[0]}-${range[1]}` } : {}),
    post: (path, body, headers = {}) =>
      call(
        'POST',
        path,
        { 'content-type': 'application/octet-stream', 'content-length': body.length, ...headers },
        body,
      ),
    request: (method, path, headers, body) =>
      call(method, path, body ? { ...headers, 'content-length': body.length } : headers, body),
    close: () => agent.destroy(),
  };
}

/** The report of a device on 7.27.0 that the release crashed. */
export const CRASHED = {
  running: '7.27.0',
  outcome: 'error',
  reason: 'APP_CRASHED',
  target: TARGET,
} as const;

/** Each device's report with `fields`, signed and written straight into `logs` (as its log-table credential can). */
export async function writeReports(
  logs: LogStore,
  devices: LightDevice[],
  fields: Parameters<typeof signedReport>[1],
): Promise<void> {
  for (const d of devices)
    await logs.append(d.id, [{ received: new Date(), report: signedReport(d, fields) }]);
}

/** A report signed by `device`, of a movehub unless `fields` names another model. */
export function signedReport(
  device: LightDevice,
  fields: Omit<StatusReport, 'device' | 'seq' | 'time' | 'model'> & { readonly model?: string },
): Uint8Array {
  device.seq += 1;
  const body = encodeReport({
    device: toHex(keyIdOf(device.sign.publicKey)),
    seq: device.seq,
    time: Math.floor(Date.now() / 1000),
    model: 'movehub',
    ...fields,
  });
  return encodeSignedReport(body, sign(device.sign.secretKey, reportMessage(body)));
}

export type PollOutcome = 'installed' | 'failed' | 'not-in-rollout' | 'no-envelope' | 'up-to-date';

/** The published targets, as a device reads them: timestamp → snapshot → targets over HTTPS. */
export async function readTargets(http: Http): Promise<Record<string, unknown>> {
  const json = async (path: string) => {
    const r = await http.get(path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
    return JSON.parse(r.body.toString('utf8'));
  };
  const timestamp = await json('/metadata/timestamp.json');
  const snapshot = await json(`/metadata/${timestamp.signed.meta['snapshot.json'].version}.snapshot.json`);
  const targets = await json(`/metadata/${snapshot.signed.meta['targets.json'].version}.targets.json`);
  return targets.signed.targets;
}

/**
 * One device's update round: choose, fetch and open its envelope, then report `installed`, or an
 * `error` naming the target when `fails` says the firmware breaks on it.
 */
export async function pollOnce(
  http: Http,
  device: LightDevice,
  targets: Record<string, unknown>,
  fails: (device: LightDevice) => boolean,
): Promise<PollOutcome> {
  const choice = chooseTarget(
    targets,
    { id: device.id, model: 'movehub', channel: 'stable', running: device.running, refused: [] },
    () => undefined,
  );
  if (choice.kind === 'up-to-date') return 'up-to-date';
  if (choice.kind === 'not-in-rollout') return 'not-in-rollout';
  const { custom, name } = choice.candidate;
  if (custom.envelopes) {
    const transport = {
      get: async (request: { path: string; range?: { start: number; end: number } }) => {
        const r = await http.get(
          `/${request.path}`,
          request.range ? [request.range.start, request.range.end] : undefined,
        );
        return { status: r.status, headers: {}, body: new Uint8Array(r.body) };
      },
    } as unknown as Transport;
    const table = { salt: custom.salt ?? '', slots: custom.slots ?? 0 };
    const envelope = await fetchEnvelope(transport, custom.envelopes, table, device.box.publicKey);
    if (!envelope) return 'no-envelope';
    openEnvelope(envelope, device.box, decodeEnvelope(envelope).binding).fill(0);
  }
  const failed = fails(device);
  if (!failed) device.running = custom.version;
  const report = signedReport(
    device,
    failed
      ? { running: device.running, outcome: 'error', reason: 'APP_CRASHED', target: name }
      : { running: device.running, outcome: 'installed', attempts: 1, target: name },
  );
  const sent = await http.post('/v1/reports', report);
  if (sent.status !== 204) throw new Error(`report refused: ${sent.status} ${sent.body.toString()}`);
  return failed ? 'failed' : 'installed';
}
