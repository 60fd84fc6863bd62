// Shared set-up for the agent tests: a workspace with devices on Pybricks 7.27.0 and a published 7.28.0,
// made through the CLI; a small real HTTPS static server for the store (strong ETags, 304, single
// ranges) with a request log and faults to inject; devices configured to poll it.
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { after } from 'node:test';
import { sha256 } from '../../../src/core/crypto/hash.ts';
import { toHex } from '../../../src/core/format/bytes.ts';
import { type AgentOptions, UpdateAgent } from '../../../src/device/agent/agent.ts';
import { writeAgentConfig } from '../../../src/device/agent/config.ts';
import { SimulatedDevice } from '../../../src/device/simulator/simulated-device.ts';
import { testCertificate } from '../../support/server.ts';
import { type World, type WorldDevice, world } from '../../support/world.ts';

export { testCertificate } from '../../support/server.ts';

export interface Served {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Body bytes sent. */
  readonly bytes: number;
  readonly range?: string;
}

export interface Faults {
  /** Answer GETs of matching paths with this status. */
  status?: { match: RegExp; code: number };
  /**
   * The next matching GET whose range covers byte `at` of the file sends the bytes before it, then drops
   * the connection (or, with `hang`, keeps it open and silent). Once.
   */
  cut?: { match: RegExp; at: number; hang?: boolean };
  /** Send headers of matching GETs, then nothing. */
  stall?: RegExp;
}

export interface StoreServer {
  readonly url: string;
  readonly certificate: string;
  readonly log: Served[];
  readonly faults: Faults;
  /** Bodies POSTed to /v1/reports. */
  readonly reports: Uint8Array[];
  close(): Promise<void>;
}

const RANGE = /^bytes=(\d+)-(\d*)$/;

export async function serveStore(dir: string): Promise<StoreServer> {
  const root = resolve(dir);
  const { key, cert } = await testCertificate();
  const log: Served[] = [];
  const faults: Faults = {};
  const reports: Uint8Array[] = [];
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'https://x').pathname);
    const range = request.headers.range;
    const done = (status: number, bytes = 0) =>
      log.push({ method: request.method ?? '', path, status, bytes, ...(range ? { range } : {}) });
    if (request.method === 'POST' && path === '/v1/reports') {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      reports.push(Buffer.concat(chunks));
      response.writeHead(204).end();
      return done(204);
    }
    const file = resolve(root, `.${path}`);
    if (request.method !== 'GET' || !file.startsWith(root + sep)) {
      response.writeHead(404).end();
      return done(404);
    }
    if (faults.status?.match.test(path)) {
      response.writeHead(faults.status.code).end();
      return done(faults.status.code);
    }
    let data: Uint8Array;
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      data = await readFile(file);
    } catch {
      response.writeHead(404).end();
      return done(404);
    }
    const etag = `"${toHex(sha256(data)).slice(0, 32)}"`;
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag }).end();
      return done(304);
    }
    let status = 200;
    let body = data;
    const headers: Record<string, string | number> = { etag, 'accept-ranges': 'bytes' };
    const m = range ? RANGE.exec(range) : null;
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(m[2] === '' ? data.length - 1 : Number(m[2]), data.length - 1);
      if (start >= data.length || end < start) {
        response.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return done(416);
      }
      status = 206;
      body = data.subarray(start, end + 1);
      headers['content-range'] = `bytes ${start}-${end}/${data.length}`;
    }
    headers['content-length'] = body.length;
    if (faults.stall?.test(path)) {
      response.writeHead(status, headers);
      response.flushHeaders();
      return done(status);
    }
    const cut = faults.cut;
    const from = status === 206 ? Number(m?.[1]) : 0;
    if (cut?.match.test(path) && cut.at >= from && cut.at < from + body.length) {
      faults.cut = undefined;
      response.writeHead(status, headers);
      response.write(body.subarray(0, cut.at - from), () => {
        if (!cut.hang) response.destroy();
      });
      return done(status, cut.at - from);
    }
    response.writeHead(status, headers).end(body);
    done(status, body.length);
  };
  const server: Server = createServer({ key, cert }, (request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const close = async () => {
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
  };
  after(close);
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    certificate: cert,
    log,
    faults,
    reports,
    close,
  };
}

export type FleetDevice = WorldDevice;

/** The world of makeFleet: 7.28.0 published, its image and firmware at hand. */
export interface Fleet extends World {
  /** The published target's name, e.g. movehub/movehub-7.28.0.sihl. */
  readonly target: string;
  /** The image bytes as published. */
  readonly image: Uint8Array;
  readonly firmware: Uint8Array;
}

/**
 * A workspace with two approvers, `count` movehub devices running Pybricks 7.27.0 (those in `revoke`
 * revoked), and Pybricks 7.28.0 approved by both and published with `rollout` percent.
 */
export async function makeFleet(
  options: { count?: number; revoke?: number[]; rollout?: number; signedOnly?: boolean } = {},
): Promise<Fleet> {
  let plan = world().withDevicesRunning('7.27.0', options.count ?? 1);
  for (const n of options.revoke ?? []) plan = plan.withRevokedDevice(n);
  const release = { rollout: options.rollout ?? 100, ...(options.signedOnly ? { signedOnly: true } : {}) };
  const built = await plan.withReleasePublished('7.28.0', release).build();
  const { cwd } = built;
  return {
    ...built,
    target: built.targets['7.28.0'] as string,
    image: new Uint8Array(await readFile(join(cwd, 'acme', 'releases', 'movehub-7.28.0', 'image.sihl'))),
    firmware: new Uint8Array(await readFile(join(cwd, 'new.bin'))),
  };
}

/** Provisioning's last step: the device learns its server, certificate, index and first root. */
export async function configure(
  fleet: Pick<Fleet, 'store'>,
  device: FleetDevice,
  server: Pick<StoreServer, 'url' | 'certificate'>,
): Promise<void> {
  const root = new Uint8Array(await readFile(join(fleet.store, 'metadata', '1.root.json')));
  await writeAgentConfig(
    device.dir,
    {
      server: server.url,
      certificate: server.certificate,
      index: device.idx,
      channel: 'stable',
      interval: 60,
    },
    root,
  );
}

/** The fleet's store served, and its `n`-th device configured to poll it. */
export async function servedDevice(
  fleet: Fleet,
  n = 0,
): Promise<{ server: StoreServer; device: FleetDevice }> {
  const server = await serveStore(fleet.store);
  const device = deviceAt(fleet, n);
  await configure(fleet, device, server);
  return { server, device };
}

/** An agent on a device loaded from its folder, as after a (re)boot; its flash is saved as it goes. */
export async function openAgent(
  device: FleetDevice,
  options: Partial<AgentOptions> = {},
): Promise<{ agent: UpdateAgent; sim: SimulatedDevice }> {
  const sim = await SimulatedDevice.load(device.dir);
  const agent = await UpdateAgent.open({
    dir: device.dir,
    device: sim,
    durable: () => sim.save(device.dir),
    ...options,
  });
  after(() => agent.close());
  return { agent, sim };
}

/** Body bytes the server sent for paths matching `match`. */
export function bytesServed(server: StoreServer, match: RegExp): number {
  return server.log.filter((s) => match.test(s.path)).reduce((sum, s) => sum + s.bytes, 0);
}

export function deviceAt(fleet: Fleet, n: number): FleetDevice {
  const device = fleet.devices[n];
  if (!device) throw new Error(`the fleet has no device ${n}`);
  return device;
}

export function lastOf<T>(items: readonly T[]): T {
  const item = items.at(-1);
  if (item === undefined) throw new Error('nothing there');
  return item;
}
