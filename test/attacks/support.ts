// The attack bench: one published workspace per test file (Pybricks 7.27.0 on the devices, 7.28.0 and
// 7.29.0 published), sihl's real HTTPS server on the store, and a malicious mirror in front of it that
// passes requests through or alters the answers. Each attack gets its own copy of one provisioned device
// (a copy costs a few milliseconds; a new device through the CLI costs seconds), so attacks do not see
// each other's state. Forged metadata and images are signed with the workspace's own keys: the test
// plays an attacker who stole exactly the keys it names (the online rollout, snapshot and timestamp keys
// sign TUF metadata; approver keys sign images).
import assert from 'node:assert/strict';
import { cp, readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { brotliCompressSync, constants } from 'node:zlib';
import type { Metadata, Targets } from '@tufjs/models';
import { type SigningKeyPair, sha256 } from '../../src/core/crypto/index.ts';
import { toHex } from '../../src/core/format/bytes.ts';
import { encodeHeader } from '../../src/core/format/header.ts';
import { encodeManifest, type Manifest } from '../../src/core/format/manifest.ts';
import { decodeSignedReport, type StatusReport } from '../../src/core/format/report.ts';
import { encodeSignatureBlock, signEntry, sortedByKeyId } from '../../src/core/format/signatures.ts';
import { chainPieces } from '../../src/core/image/chain-pass.ts';
import { imageMessage } from '../../src/core/image/index.ts';
import { type AgentOptions, type PollResult, UpdateAgent } from '../../src/device/agent/agent.ts';
import { writeAgentConfig } from '../../src/device/agent/config.ts';
import { writeAgentState } from '../../src/device/agent/state.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { readPublished, targetEntries } from '../../src/publisher/published.ts';
import { loadKey, roleSigners } from '../../src/publisher/role-keys.ts';
import { signerFrom } from '../../src/publisher/tuf/keys.ts';
import {
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metaFileOf,
  serialize,
  type TargetEntry,
} from '../../src/publisher/tuf/metadata.ts';
import { metadataFilePath, TIMESTAMP_PATH, targetFilePath } from '../../src/publisher/tuf/publish.ts';
import { signWith } from '../../src/publisher/tuf/signing.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import type { RunningServer } from '../../src/server/index.ts';
import { type Fleet, type FleetDevice, makeFleet, testCertificate } from '../device/agent/support.ts';
import { tempDir } from '../helpers.ts';
import { PASSPHRASE } from '../support/cli.ts';
import { GENEROUS, httpsRequest, serveWorkspace } from '../support/server.ts';
import { shipRelease } from '../support/world.ts';

export const OLD_VERSION = '7.27.0';
const passphrases = async () => PASSPHRASE;

// ---------------------------------------------------------------------------------------------------
// The mirror

export interface Upstream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RuleContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  /** The honest answer of the server behind the mirror. */
  upstream(): Promise<Upstream>;
}

export interface Rule {
  readonly match: RegExp;
  handle(ctx: RuleContext): Promise<void> | void;
}

export interface Mirror {
  readonly url: string;
  readonly certificate: string;
  /** Rules tried in order; the first whose pattern matches the path answers. */
  rules: Rule[];
  readonly log: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

function passHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_HEADERS.has(k)) out[k] = v;
  return out;
}

export async function startMirror(upstreamPort: number): Promise<Mirror> {
  const { key, cert } = await testCertificate();
  const agent = new Agent({ keepAlive: true, ca: cert });
  const log: Mirror['log'] = [];
  const mirror: Mirror = { url: '', certificate: cert, rules: [], log, close: async () => {} };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    const body = Buffer.concat(parts);
    const upstream = (): Promise<Upstream> =>
      httpsRequest(
        undefined,
        {
          host: '127.0.0.1',
          port: upstreamPort,
          path: req.url,
          method: req.method,
          headers: passHeaders(req.headers),
          agent,
        },
        body,
      );
    res.on('finish', () => log.push({ method: req.method ?? '', path, status: res.statusCode }));
    const rule = mirror.rules.find((r) => r.match.test(path));
    if (rule) return rule.handle({ req, res, path, upstream });
    const u = await upstream();
    res.writeHead(u.status, passHeaders(u.headers)).end(req.method === 'HEAD' ? undefined : u.body);
  };
  const server = createServer({ key, cert }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  mirror.close = async () => {
    for (const t of trickleTimers) clearInterval(t);
    agent.destroy();
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
  };
  (mirror as { url: string }).url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return mirror;
}

/** Intervals of trickling answers, stopped when their client goes or the mirror closes. */
const trickleTimers = new Set<NodeJS.Timeout>();

const RANGE = /^bytes=(\d+)-(\d*)$/;

/** Serves these bytes as the file, with a strong ETag, 304 and single ranges, like an honest server. */
export function serveBytes(match: RegExp, bytes: Uint8Array): Rule {
  return {
    match,
    handle({ req, res }) {
      const etag = `"${toHex(sha256(bytes)).slice(0, 32)}"`;
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
      const m = RANGE.exec(req.headers.range ?? '');
      if (!m) return void res.writeHead(200, { etag, 'content-length': bytes.length }).end(bytes);
      const start = Number(m[1]);
      const end = Math.min(m[2] === '' ? bytes.length - 1 : Number(m[2]), bytes.length - 1);
      if (start >= bytes.length) {
        return void res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
      }
      const part = bytes.subarray(start, end + 1);
      res
        .writeHead(206, {
          etag,
          'content-length': part.length,
          'content-range': `bytes ${start}-${end}/${bytes.length}`,
        })
        .end(part);
    },
  };
}

/** Every file of a forged repository, each served as above. */
export function serveFiles(files: ReadonlyMap<string, Uint8Array>): Rule[] {
  return [...files].map(([path, bytes]) => serveBytes(new RegExp(`^/${escapeRegExp(path)}$`), bytes));
}

export function status(match: RegExp, code: number): Rule {
  return { match, handle: ({ res }) => void res.writeHead(code, { 'content-length': 0 }).end() };
}

/**
 * The honest answer with `extra` more bytes after it, sent chunked (no Content-Length to go by). With
 * `extra: Infinity` it never ends: 64 KiB at a time while the client keeps reading (at most 256 MiB).
 */
export function overflow(match: RegExp, extra: number): Rule {
  return {
    match,
    async handle({ res, upstream }) {
      const u = await upstream();
      const headers = passHeaders(u.headers);
      delete headers['content-length'];
      res.writeHead(u.status, headers);
      res.write(u.body);
      const junk = Buffer.alloc(64 * 1024, 0x20);
      for (let sent = 0; sent < Math.min(extra, 256 * 1024 * 1024) && !res.destroyed; sent += junk.length) {
        if (!res.write(junk.subarray(0, Math.min(junk.length, extra - sent)))) {
          await new Promise((drained) => {
            res.once('drain', drained);
            res.once('close', drained);
          });
        }
      }
      res.end();
    },
  };
}

/** The honest headers, then one body byte every `everyMs` (the slow retrieval attack). */
export function trickle(match: RegExp, everyMs: number): Rule {
  return {
    match,
    async handle({ res, upstream }) {
      const u = await upstream();
      res.writeHead(u.status, passHeaders(u.headers));
      let at = 0;
      const send = () => {
        if (at < u.body.length && !res.destroyed) res.write(u.body.subarray(at, ++at));
      };
      send();
      const timer = setInterval(send, everyMs);
      trickleTimers.add(timer);
      res.once('close', () => {
        clearInterval(timer);
        trickleTimers.delete(timer);
      });
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------------
// The bench: fleet, real server, mirror, device copies

export interface Bench {
  readonly fleet: Fleet;
  readonly workspace: Workspace;
  readonly server: RunningServer;
  readonly mirror: Mirror;
  readonly oldFirmware: Uint8Array;
  /** The store's timestamp.json before 7.29.0 was published (version 1). */
  readonly firstTimestamp: Uint8Array;
  /** Signed reports the real server stored for copies of the device, from sequence number `from` on. */
  reports(from: number): Promise<StatusReport[]>;
}

/**
 * The shared set-up: call once per test file, as the file loads (so the after() hooks belong to the
 * file). 7.29.0 is published after 7.28.0 so that envelopes of an older release exist to replay.
 */
export async function makeBench(): Promise<Bench> {
  const fleet = await makeFleet();
  const firstTimestamp = new Uint8Array(await readFile(join(fleet.store, TIMESTAMP_PATH)));
  await shipRelease(fleet.cwd, '7.29.0');
  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  const server = await serveWorkspace(workspace, {
    limits: { reportsPerDevice: GENEROUS, reportsPerAddress: GENEROUS },
  });
  const mirror = await startMirror(server.port);
  after(() => mirror.close());
  const device = fleet.devices[0] as FleetDevice;
  return {
    fleet,
    workspace,
    server,
    mirror,
    oldFirmware: new Uint8Array(await readFile(join(fleet.cwd, 'old.bin'))),
    firstTimestamp,
    async reports(from) {
      const found: StatusReport[] = [];
      for await (const entry of server.logStore.query({ deviceId: device.id })) {
        const report = decodeSignedReport(entry.report).report;
        if (report.seq >= from) found.push(report);
      }
      return found;
    },
  };
}

export interface Victim {
  readonly device: FleetDevice;
  readonly agent: UpdateAgent;
  readonly sim: SimulatedDevice;
  /** Its first report's sequence number. */
  readonly firstSeq: number;
}

let copies = 0;

/**
 * A fresh copy of the fleet's device, running 7.27.0, pointed at the mirror. Copies share the device's
 * identity, so each starts its report numbers above the last copy's (the server refuses a replay).
 */
export async function victim(bench: Bench, options: Partial<AgentOptions> = {}): Promise<Victim> {
  const original = bench.fleet.devices[0] as FleetDevice;
  const dir = join(await tempDir(), 'hub');
  await cp(original.dir, dir, { recursive: true });
  const firstSeq = Date.now() * 10 + ++copies * 1000;
  const root = new Uint8Array(await readFile(join(bench.fleet.store, 'metadata', '1.root.json')));
  await writeAgentConfig(
    dir,
    {
      server: bench.mirror.url,
      certificate: bench.mirror.certificate,
      index: original.idx,
      channel: 'stable',
      interval: 60,
    },
    root,
  );
  await writeAgentState(dir, { refused: [], seq: firstSeq - 1, outbox: [] });
  const device = { ...original, dir };
  const sim = await SimulatedDevice.load(dir);
  const agent = await UpdateAgent.open({ dir, device: sim, durable: () => sim.save(dir), ...options });
  after(() => agent.close());
  return { device, agent, sim, firstSeq };
}

/** What users notice after an attack the agent stopped: an error with this code, reported, nothing staged. */
export async function assertRefusedByAgent(
  bench: Bench,
  v: Victim,
  result: PollResult,
  code: string,
): Promise<void> {
  assert.equal(result.outcome, 'error', JSON.stringify(result));
  assert.equal(result.error?.code, code, result.error?.message);
  assert.equal(v.agent.state.lastError, code, 'the reason is kept in the agent state');
  assert.equal(v.sim.bootState()?.phase, 'idle', 'nothing is marked pending');
  const reasons = (await bench.reports(v.firstSeq)).map((r) => [r.outcome, r.reason]);
  assert.deepEqual(reasons, [['error', code]], 'the signed error report reached the log store');
  await assertOldFirmwareRuns(bench, v);
}

/** What users notice after an attack the bootloader stopped: rejected at boot with this code, reported. */
export async function assertRejectedAtBoot(
  bench: Bench,
  v: Victim,
  result: PollResult,
  code: string,
): Promise<void> {
  assert.equal(result.outcome, 'staged', JSON.stringify(result));
  const boot = await v.sim.boot();
  assert.equal(boot.outcome, 'rejected');
  assert.equal(boot.reason, code);
  assert.equal(boot.installed, false);
  await v.agent.reportBoot(boot);
  const reports = await bench.reports(v.firstSeq);
  assert.deepEqual(
    reports.map((r) => [r.outcome, r.reason, r.running]),
    [['rejected', code, OLD_VERSION]],
    'the signed rejection report reached the log store',
  );
  assert.deepEqual(v.agent.state.staged, undefined);
  await assertOldFirmwareRuns(bench, v);
}

/** The next boot starts 7.27.0, byte for byte, and installs nothing. */
export async function assertOldFirmwareRuns(bench: Bench, v: Victim): Promise<void> {
  const boot = await v.sim.boot();
  assert.equal(boot.installed, false, 'nothing is installed');
  assert.equal(boot.running.version, OLD_VERSION);
  assert.deepEqual(v.sim.executable(bench.oldFirmware.length), bench.oldFirmware);
}

/** Polls once with the envelope tables hidden: the device trusts the current metadata, stages nothing. */
export async function trustCurrentMetadata(bench: Bench, v: Victim): Promise<void> {
  const saved = bench.mirror.rules;
  bench.mirror.rules = [status(/\/envelopes\//, 404)];
  const result = await v.agent.poll();
  bench.mirror.rules = saved;
  assert.equal(result.outcome, 'not-eligible', JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------------
// Forgery with stolen keys

export async function signingKeys(bench: Bench, ...names: string[]): Promise<SigningKeyPair[]> {
  return Promise.all(
    names.map(async (name) => (await loadKey(bench.workspace, name, passphrases)) as SigningKeyPair),
  );
}

/** A movehub image built by hand (docs/FORMAT.md), unencrypted, signed by `signers`. */
export async function forgeImage(
  bench: Bench,
  options: {
    signers: SigningKeyPair[];
    version: string;
    model?: string;
    /** What the payload decompresses to; by default the firmware itself. */
    payload?: Uint8Array;
    /** The size and digest the manifest claims; by default those of the firmware. */
    firmware?: Uint8Array;
    /** The signed delegation the image carries; by default the workspace's. */
    delegation?: Uint8Array;
    /** Signed as an explicit downgrade (FORMAT.md §Manifest, flags). */
    downgrade?: boolean;
  },
): Promise<Uint8Array> {
  const firmware = options.firmware ?? bench.fleet.firmware;
  const compressed = brotliCompressSync(options.payload ?? firmware, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 16 },
  });
  const chunk = 16 * 1024;
  const pieces = Array.from({ length: Math.max(1, Math.ceil(compressed.length / chunk)) }, (_, i) =>
    compressed.subarray(i * chunk, (i + 1) * chunk),
  );
  const { payload, digest } = chainPieces(pieces);
  const manifest: Manifest = {
    model: options.model ?? 'movehub',
    version: options.version,
    securityVersion: 1,
    releaseId: sha256(compressed).subarray(0, 16),
    created: Math.floor(Date.now() / 1000),
    plaintextSize: firmware.length,
    plaintextDigest: sha256(firmware),
    compression: { algorithm: 'brotli', windowLog: 16, filter: 'none', compressedSize: compressed.length },
    encryption: { algorithm: 'none' },
    chunkSize: chunk,
    payloadSize: payload.length,
    payloadDigest: digest,
    ...(options.downgrade ? { downgrade: true } : {}),
  };
  const manifestBytes = encodeManifest(manifest);
  const message = imageMessage(manifestBytes);
  const block = encodeSignatureBlock(
    sortedByKeyId(options.signers.map((s) => signEntry(s.secretKey, s.publicKey, message))),
  );
  const delegation = options.delegation ?? new Uint8Array(await readFile(bench.workspace.delegationPath));
  const header = encodeHeader({
    manifestLength: manifestBytes.length,
    delegationLength: delegation.length,
    signatureBlockLength: block.length,
    rootChainLength: 0,
    payloadLength: payload.length,
  });
  return Buffer.concat([header, manifestBytes, delegation, block, payload]);
}

export interface Forgery {
  /** Target files to add: name (movehub/movehub-X.sihl), bytes and custom fields. */
  readonly add?: { name: string; bytes: Uint8Array; custom: TargetEntry['custom'] }[];
  /** Signers of the targets metadata; by default the online rollout key (the TUF targets role). */
  readonly targetsSigners?: SigningKeyPair[];
  /** Versions above the published ones (default 1): an attacker's second forgery goes 2 ahead. */
  readonly ahead?: number;
  /** The entries already published, replaced; by default they stay. */
  readonly entries?: TargetEntry[];
  /** Version of the forged timestamp; by default the next. */
  readonly timestampVersion?: number;
  /** Snapshot version the timestamp names; by default the forged snapshot's. */
  readonly snapshotVersion?: number;
  /** The clock the metadata expiry is computed from. */
  readonly now?: () => Date;
}

/**
 * Next versions of targets, snapshot and timestamp as an attacker holding the named keys would publish
 * them on a mirror: path → bytes, to serve with serveFiles.
 */
export async function forgeRepository(bench: Bench, forgery: Forgery): Promise<Map<string, Uint8Array>> {
  const published = await readPublished(bench.fleet.store);
  const files = new Map<string, Uint8Array>();
  const entries: TargetEntry[] = forgery.entries ?? targetEntries(published.targets);
  for (const add of forgery.add ?? []) {
    const entry = { name: add.name, length: add.bytes.length, sha256: toHex(sha256(add.bytes)) };
    entries.push(add.custom ? { ...entry, custom: add.custom } : entry);
    files.set(targetFilePath(add.name, entry.sha256), add.bytes);
  }
  const expiry = forgery.now ? { now: forgery.now } : {};
  const ahead = forgery.ahead ?? 1;
  const targetsVersion = (published.targets as Metadata<Targets>).signed.version + ahead;
  const targets = signWith(
    makeTargets({ version: targetsVersion, targets: entries, ...expiry }),
    (forgery.targetsSigners ?? (await signingKeys(bench, 'rollout'))).map(signerFrom),
  );
  const snapshotVersion = published.snapshotVersion + ahead;
  const snapshot = signWith(
    makeSnapshot({ version: snapshotVersion, targets: metaFileOf(targets), ...expiry }),
    (await roleSigners(bench.workspace, 'snapshot', passphrases)).map(signerFrom),
  );
  const snapshotMeta = metaFileOf(snapshot);
  const timestamp = signWith(
    makeTimestamp({
      version: forgery.timestampVersion ?? published.timestampVersion + ahead,
      snapshot: { ...snapshotMeta, version: forgery.snapshotVersion ?? snapshotMeta.version },
      ...expiry,
    }),
    (await roleSigners(bench.workspace, 'timestamp', passphrases)).map(signerFrom),
  );
  files.set(metadataFilePath('targets', targetsVersion), serialize(targets));
  files.set(metadataFilePath('snapshot', snapshotVersion), serialize(snapshot));
  files.set(TIMESTAMP_PATH, serialize(timestamp));
  return files;
}

/**
 * A fresh victim polls a mirror that lists `image` as movehub 9.0.0 in a repository signed with every
 * online key (the targets metadata by `targetsSigners` when given): the victim and what its poll returned.
 */
export async function offerImage(
  bench: Bench,
  image: Uint8Array,
  targetsSigners?: SigningKeyPair[],
): Promise<{ v: Victim; result: PollResult }> {
  const forged = await forgeRepository(bench, {
    add: [{ name: 'movehub/movehub-9.0.0.sihl', bytes: image, custom: customFor('9.0.0', image) }],
    ...(targetsSigners ? { targetsSigners } : {}),
  });
  bench.mirror.rules = serveFiles(forged);
  const v = await victim(bench);
  return { v, result: await v.agent.poll() };
}

/** custom fields as `release publish` writes them, for an unencrypted image. */
export function customFor(version: string, bytes: Uint8Array): TargetEntry['custom'] {
  return {
    model: 'movehub',
    version,
    securityVersion: 1,
    channel: 'stable',
    rollout: 100,
    releaseId: toHex(sha256(bytes).subarray(0, 16)),
  };
}
