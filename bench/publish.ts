// The envelope benchmark: register a fleet (1,000,000 devices by default) in a temporary registry, then
// publish one release's key envelopes for all of them, beside the raw sealing rate of every core
// measured in the same run. Each phase runs in a child process of its own, so the publishing process's
// peak RSS is its alone (its sealing threads included: they live in the same process).
// `node bench/publish.ts` prints the Markdown section; bench/run.ts adds it to docs/BENCHMARKS.md.
// Internal phases: `node bench/publish.ts register <db> <count>`, `seal-rate`, `publish <db> <dir>`.
import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { generateContentKey, generateSigningKeyPair, randomBytes, sha256 } from '../src/core/crypto/index.ts';
import { ENVELOPE_BYTES, sealEnvelope } from '../src/core/format/envelope.ts';
import {
  BUCKET_SLOTS,
  bucketLocation,
  candidateBuckets,
  recipientIdFor,
  slotIn,
  tableSlots,
} from '../src/core/format/slot-table.ts';
import { publishEnvelopes } from '../src/publisher/envelopes.ts';
import { planRecipients, type RecipientPlan } from '../src/publisher/recipients.ts';
import { type NewDevice, openRegistry, REGISTRY_BATCH } from '../src/publisher/registry.ts';
import { publishSection } from './report.ts';

export const FLEET = 1_000_000;
/** A second fleet a tenth the size: if memory is bounded, its peak RSS is about the same. */
const SMALL_FLEET_DIVISOR = 10;
/** Envelopes each thread seals in the raw-rate loop. */
const SEAL_RATE_PER_THREAD = 200_000;
const MODEL = 'bench';
const SELF = fileURLToPath(import.meta.url);

const log = (line: string) => process.stderr.write(`${line}\n`);

export interface Registered {
  readonly devices: number;
  readonly seconds: number;
  readonly keygenSeconds: number;
  readonly databaseBytes: number;
}

export interface SealRate {
  readonly threads: number;
  readonly envelopes: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

export interface Published {
  readonly devices: number;
  /** Devices that got an envelope. */
  readonly sealed: number;
  /** Slots sealed: the devices' envelopes and the filler of the padded table. */
  readonly slots: number;
  readonly parts: number;
  readonly bytes: number;
  readonly diskBytes: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly maxRssKiB: number;
  readonly checked: number;
}

export interface PublishRun {
  readonly registered: Registered;
  readonly raw: SealRate;
  readonly published: Published;
  /** The same publication for a fleet a tenth the size: bounded memory shows as a similar peak RSS. */
  readonly small: Published;
  /** One device's fetch: the range request and the 206 response headers, as sent. */
  readonly http: { readonly request: string; readonly response: string; readonly body: number };
  /** The 1-minute load average before registering and after publishing: the machine may be shared. */
  readonly load: { readonly before: number; readonly after: number; readonly cores: number };
}

function every(label: string, total: number): (done: number) => void {
  let shown = 0;
  return (done) => {
    const tenth = Math.floor((done / total) * 10);
    if (tenth > shown) {
      shown = tenth;
      log(`    ${label} ${tenth * 10} %`);
    }
  };
}

/** Provisions `count` devices in transactions of REGISTRY_BATCH; only the provisioning is timed. */
async function register(db: string, count: number): Promise<Registered> {
  const registry = openRegistry(db);
  const shown = every('register', count);
  let seconds = 0;
  let keygenSeconds = 0;
  try {
    for (let start = 0; start < count; start += REGISTRY_BATCH) {
      const n = Math.min(REGISTRY_BATCH, count - start);
      // A real device makes its own keys; here the bench does, off the clock. Any 32 bytes are an
      // X25519 public key, but the Ed25519 key must be a valid point, so those are real key pairs.
      const made = performance.now();
      const boxes = randomBytes(n * 32);
      const chunk: NewDevice[] = Array.from({ length: n }, (_, i) => ({
        sign: generateSigningKeyPair().publicKey,
        box: boxes.subarray(i * 32, (i + 1) * 32),
        model: MODEL,
        owner: 'bench',
        now: 1_750_000_000,
      }));
      const started = performance.now();
      keygenSeconds += (started - made) / 1000;
      registry.provisionMany(chunk);
      seconds += (performance.now() - started) / 1000;
      shown(start + n);
    }
  } finally {
    registry.close();
  }
  let databaseBytes = 0;
  for (const suffix of ['', '-wal'])
    databaseBytes += await stat(`${db}${suffix}`).then(
      (s) => s.size,
      () => 0,
    );
  return { devices: count, seconds, keygenSeconds, databaseBytes };
}

/** A thread of the raw-rate loop: sealEnvelope on random keys, nothing else. */
async function sealLoopThread(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const count = (workerData as { count: number }).count;
  const keys = randomBytes(count * 32);
  const contentKey = generateContentKey();
  const binding = randomBytes(32);
  port.once('message', () => {
    const started = performance.now();
    for (let i = 0; i < count; i++) sealEnvelope(contentKey, binding, keys.subarray(i * 32, (i + 1) * 32));
    port.postMessage((performance.now() - started) / 1000);
    port.close();
  });
  port.postMessage('ready');
}

/** Every core sealing at once, each thread started together once all have made their keys. */
async function sealRate(): Promise<SealRate> {
  const threads = availableParallelism();
  const workers = Array.from(
    { length: threads },
    () => new Worker(SELF, { workerData: { count: SEAL_RATE_PER_THREAD } }),
  );
  const next = (worker: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await Promise.all(workers.map(next));
  const cpu = process.cpuUsage();
  const started = performance.now();
  const done = workers.map(next);
  for (const worker of workers) worker.postMessage('go');
  await Promise.all(done);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    threads,
    envelopes: threads * SEAL_RATE_PER_THREAD,
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

/** Finds one device's slot as its bucket requests would, and checks it is addressed to that device. */
async function checkSlot(dir: string, plan: RecipientPlan, idx: number, box: Uint8Array): Promise<void> {
  const recipient = recipientIdFor(plan.salt, box);
  for (const bucket of candidateBuckets(recipient, plan.slots)) {
    const { path, offset, length } = bucketLocation(join(dir, 'envelopes'), bucket, ENVELOPE_BYTES);
    const file = await open(path, 'r');
    try {
      const bytes = new Uint8Array(length);
      await file.read(bytes, 0, length, offset);
      if (slotIn(bytes, recipient, ENVELOPE_BYTES)) return;
    } finally {
      await file.close();
    }
  }
  throw new Error(`device ${idx} has no slot`);
}

async function publish(db: string, dir: string): Promise<Published> {
  const registry = openRegistry(db);
  try {
    const cpu = process.cpuUsage();
    const devices = registry.count();
    const plan = planRecipients({ registry, model: MODEL });
    const result = await publishEnvelopes({
      plan,
      contentKey: generateContentKey(),
      binding: sha256(Uint8Array.of(1)),
      dir,
      onProgress: every('publish', plan.slots),
    });
    const used = process.cpuUsage(cpu);
    const maxRssKiB = process.resourceUsage().maxRSS;
    let diskBytes = 0;
    for (let part = 0; part < result.parts; part++) {
      diskBytes += (await stat(join(dir, 'envelopes', `${part}.bin`))).blocks * 512;
    }
    // Off the clock: a few slots, last one included, hold an envelope for their own device.
    const samples = [
      0,
      devices - 1,
      ...Array.from({ length: 18 }, () => Math.floor(Math.random() * devices)),
    ];
    for (const idx of samples) {
      const device = registry.list({ limit: 1, offset: idx })[0];
      if (device?.idx !== idx) throw new Error(`no device at idx ${idx}`);
      await checkSlot(dir, plan, idx, device.box);
    }
    return {
      devices: result.devices,
      sealed: result.sealed,
      slots: result.slots,
      parts: result.parts,
      bytes: result.bytes,
      diskBytes,
      seconds: result.seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      maxRssKiB,
      checked: samples.length,
    };
  } finally {
    registry.close();
  }
}

/** Runs one phase in a fresh Node process and returns the JSON it printed last. */
function phase<T>(...args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`publish bench phase ${args[0]} failed (${signal ?? `exit code ${code}`})`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as T);
      } catch (error) {
        reject(new Error(`publish bench phase ${args[0]} printed no result: ${out}`, { cause: error }));
      }
    });
  });
}

/**
 * The bytes of one device's fetch beyond the envelope: the smallest plausible HTTP/1.1 range request
 * and 206 response for the last device of a 1,000,000-device fleet. CDNs and object stores add headers
 * of their own (request ids, caching), typically a few hundred bytes more.
 */
function httpExchange(devices: number): PublishRun['http'] {
  const slots = tableSlots(devices);
  const bucket = slots / BUCKET_SLOTS - 1;
  const { path: file, offset, length } = bucketLocation('envelopes', bucket, ENVELOPE_BYTES);
  const partBytes = (Math.min(65_536, slots) * ENVELOPE_BYTES).toString();
  const request = [
    `GET /releases/0123456789abcdef/${file} HTTP/1.1`,
    'Host: updates.example.com',
    `Range: bytes=${offset}-${offset + length - 1}`,
    'User-Agent: sihl-agent/0.1',
    '',
    '',
  ].join('\r\n');
  const response = [
    'HTTP/1.1 206 Partial Content',
    'Date: Mon, 16 Nov 2026 12:00:00 GMT',
    'Content-Type: application/octet-stream',
    `Content-Range: bytes ${offset}-${offset + length - 1}/${partBytes}`,
    `Content-Length: ${length}`,
    'ETag: "0x8DD0123456789AB"',
    '',
    '',
  ].join('\r\n');
  return { request, response, body: length };
}

/** Registers both fleets, measures the raw rate, publishes; everything in `dir`, removed after. */
export async function benchPublish(
  dir: string,
  fleet = FLEET,
  say: (line: string) => void = log,
): Promise<PublishRun> {
  const small = Math.ceil(fleet / SMALL_FLEET_DIVISOR);
  const db = join(dir, 'registry.sqlite');
  const smallDb = join(dir, 'registry-small.sqlite');
  const loadBefore = loadavg()[0] as number;
  try {
    say(`envelopes: registering ${fleet.toLocaleString('en-US')} devices`);
    const registered = await phase<Registered>('register', db, String(fleet));
    say(
      `envelopes: registered in ${registered.seconds.toFixed(1)} s (keys made in ${registered.keygenSeconds.toFixed(1)} s)`,
    );
    say('envelopes: raw sealing rate on every core');
    const raw = await phase<SealRate>('seal-rate');
    say(`envelopes: ${Math.round(raw.envelopes / raw.seconds)} envelopes/s raw on ${raw.threads} threads`);
    say(`envelopes: publishing for ${fleet.toLocaleString('en-US')} devices`);
    const published = await phase<Published>('publish', db, join(dir, 'release'));
    say(
      `envelopes: published in ${published.seconds.toFixed(1)} s, peak RSS ${(published.maxRssKiB / 1024).toFixed(0)} MiB`,
    );
    await rm(join(dir, 'release'), { recursive: true, force: true });
    say(`envelopes: the same for ${small.toLocaleString('en-US')} devices`);
    await phase<Registered>('register', smallDb, String(small));
    const smallPublished = await phase<Published>('publish', smallDb, join(dir, 'release-small'));
    const load = { before: loadBefore, after: loadavg()[0] as number, cores: availableParallelism() };
    return { registered, raw, published, small: smallPublished, http: httpExchange(fleet), load };
  } finally {
    for (const name of ['release', 'release-small'])
      await rm(join(dir, name), { recursive: true, force: true });
    for (const path of [db, smallDb]) {
      for (const suffix of ['', '-wal', '-shm']) await rm(`${path}${suffix}`, { force: true });
    }
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const [mode, first = '', second = ''] = argv;
  switch (mode) {
    case 'register':
      process.stdout.write(`${JSON.stringify(await register(first, Number(second)))}\n`);
      return;
    case 'seal-rate':
      process.stdout.write(`${JSON.stringify(await sealRate())}\n`);
      return;
    case 'publish':
      process.stdout.write(`${JSON.stringify(await publish(first, second))}\n`);
      return;
    case undefined: {
      const dir = await mkdtemp(join(tmpdir(), 'sihl-bench-publish-'));
      try {
        const fleet = Number(process.env.SIHL_BENCH_DEVICES ?? FLEET);
        process.stdout.write(`${publishSection(await benchPublish(dir, fleet))}\n`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return;
    }
    default:
      throw new Error(`unknown phase ${mode}; run without arguments`);
  }
}

if (!isMainThread) {
  await sealLoopThread();
} else if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    log(`bench publish: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
