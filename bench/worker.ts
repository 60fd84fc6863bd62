// One benchmark operation in a process of its own, so that the peak RSS it reports belongs to that
// operation alone. Usage: node bench/worker.ts <operation> <paths...>; prints one line of JSON.
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, open, readFile, stat, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import {
  brotliCompressor,
  brotliDecompressor,
  DEFAULT_WINDOW_LOG,
  defaultQuality,
} from '../src/core/compress/brotli.ts';
import { openEnvelope, sealEnvelope } from '../src/core/format/envelope.ts';
import { streamBinding } from '../src/core/format/manifest.ts';
import {
  type ByteSink,
  packImage,
  unpackPayload,
  verifyImage,
  withFileSource,
} from '../src/core/image/index.ts';
import { decode, install, type Timed } from './install.ts';
import { benchTrust } from './keys.ts';

export const OPERATIONS = [
  'baseline',
  'compress',
  'decompress',
  'pack',
  'verify',
  'unpack',
  'decode',
  'install',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** What every operation reports; `bytes` is the plaintext (firmware) size it handled. */
export interface WorkerResult {
  readonly operation: Operation;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly maxRssKiB: number;
  readonly bytes: number;
  readonly outputBytes: number;
  readonly details?: Record<string, string | number>;
}

type Outcome = Pick<WorkerResult, 'bytes' | 'outputBytes' | 'details'>;

const trust = benchTrust();
const CREATED = 1_750_000_000;

/** Tells the parent's log how far a long step has come, every tenth of the way. */
function progress(label: string): (done: number, total: number) => void {
  let shown = 0;
  return (done, total) => {
    const tenth = Math.floor((done / total) * 10);
    if (tenth > shown) {
      shown = tenth;
      process.stderr.write(`    ${label} ${tenth * 10} %\n`);
    }
  };
}

/** Appends everything it is given to an open file. */
function fileSink(handle: FileHandle): ByteSink {
  return {
    write: async (chunk) => {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
        done += bytesWritten;
      }
    },
  };
}

/** Brotli alone, at the quality and window packImage would use for this input. */
async function compress(input: string, output: string): Promise<Outcome> {
  const { size } = await stat(input);
  const quality = defaultQuality(size);
  await pipeline(
    createReadStream(input, { highWaterMark: 1024 * 1024 }),
    brotliCompressor(quality, DEFAULT_WINDOW_LOG, size),
    createWriteStream(output),
  );
  return {
    bytes: size,
    outputBytes: (await stat(output)).size,
    details: { quality, windowLog: DEFAULT_WINDOW_LOG },
  };
}

/** Brotli decoding alone, into a file as unpack writes one. */
async function decompress(input: string, output: string): Promise<Outcome> {
  await pipeline(
    createReadStream(input, { highWaterMark: 1024 * 1024 }),
    brotliDecompressor(),
    createWriteStream(output),
  );
  const { size } = await stat(output);
  return { bytes: size, outputBytes: size };
}

/** An encrypted image signed by two approvers; the key envelope is sealed after the clock stops. */
async function pack(input: string, image: string): Promise<{ outcome: Outcome; after: () => Promise<void> }> {
  const { size } = await stat(input);
  const result = await packImage(input, image, {
    model: 'bench',
    version: '1.0.0',
    delegation: trust.delegation,
    signers: trust.approvers.slice(0, 2),
    encrypt: true,
    now: () => new Date(CREATED * 1000),
    releaseId: new Uint8Array(16),
    onProgress: progress('pack'),
  });
  const { manifest, contentKey } = result;
  if (!contentKey) throw new Error('an encrypted image came back without a content key');
  return {
    outcome: {
      bytes: size,
      outputBytes: result.size,
      details: {
        quality: defaultQuality(size),
        filter: manifest.compression.filter,
        compressedSize: manifest.compression.compressedSize,
        payloadSize: manifest.payloadSize,
      },
    },
    after: () =>
      writeFile(
        `${image}.envelope`,
        sealEnvelope(contentKey, streamBinding(result.manifestBytes), trust.device.publicKey),
      ),
  };
}

async function verify(image: string): Promise<Outcome> {
  return withFileSource(image, async (source) => {
    const verified = await verifyImage(source, { root: trust.root }, { model: 'bench' });
    return {
      bytes: verified.manifest.plaintextSize,
      outputBytes: 0,
      details: { approvers: verified.approvers.length },
    };
  });
}

/** What a device does: verify, open its key envelope, then decrypt, decompress and write the firmware. */
async function unpack(image: string, output: string): Promise<Outcome> {
  const envelope = new Uint8Array(await readFile(`${image}.envelope`));
  const handle = await open(output, 'w', 0o600);
  try {
    return await withFileSource(image, async (source) => {
      const started = performance.now();
      const verified = await verifyImage(source, { root: trust.root }, { model: 'bench' });
      const verifySeconds = (performance.now() - started) / 1000;
      const key = openEnvelope(envelope, trust.device, streamBinding(verified.manifestBytes));
      await unpackPayload(source, verified, key, fileSink(handle));
      return {
        bytes: verified.manifest.plaintextSize,
        outputBytes: verified.manifest.plaintextSize,
        details: { verifySeconds },
      };
    });
  } finally {
    await handle.close();
  }
}

/** `timed`, when given, replaces the clock around the whole operation (its setup does not count). */
async function run(
  operation: Operation,
  paths: readonly string[],
): Promise<{ outcome: Outcome; after?: () => Promise<void>; timed?: Timed }> {
  const [first = '', second = ''] = paths;
  switch (operation) {
    case 'baseline':
      return { outcome: { bytes: 0, outputBytes: 0 } };
    case 'compress':
      return { outcome: await compress(first, second) };
    case 'decompress':
      return { outcome: await decompress(first, second) };
    case 'pack':
      return pack(first, second);
    case 'verify':
      return { outcome: await verify(first) };
    case 'unpack':
      return { outcome: await unpack(first, second) };
    case 'decode':
      return { outcome: await decode(trust, first) };
    case 'install': {
      const { timed, ...outcome } = await install(trust, first, second);
      return { outcome, ...(timed ? { timed } : {}) };
    }
  }
}

async function main(): Promise<void> {
  const [operation, ...paths] = process.argv.slice(2);
  if (!OPERATIONS.includes(operation as Operation)) {
    throw new Error(`usage: worker.ts <${OPERATIONS.join('|')}> <paths...>`);
  }
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { outcome, after, timed } = await run(operation as Operation, paths);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await after?.();
  const result: WorkerResult = {
    operation: operation as Operation,
    seconds: timed?.seconds ?? seconds,
    cpuSeconds: timed?.cpuSeconds ?? (cpu.user + cpu.system) / 1e6,
    maxRssKiB: process.resourceUsage().maxRSS,
    ...outcome,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
