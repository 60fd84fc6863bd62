// The C bootloader core (bootloader/) against the TypeScript verifier, outcome for outcome: every
// vector of docs/vectors, then every byte of the signed parts of two images flipped in turn, and every
// byte of a key envelope. Built with -Wall -Wextra -Werror; the vectors run under AddressSanitizer and
// UBSan, the byte sweeps (about 1,800 runs) on the -O2 build, which starts ten times faster.
// `npm test` sweeps every SWEEP_STEP-th byte; SIHL_EXHAUSTIVE=1 (`npm run test:slow`, in CI) every byte.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliCompressSync, constants } from 'node:zlib';
import { type CraftOptions, craftImage, envelopeFor, lzma2Of } from '../../docs/vectors/craft.ts';
import {
  fixed,
  fixedDelegation,
  here,
  type RootJson,
  type VectorCase,
  vectorFirmware,
} from '../../docs/vectors/generate.ts';
import { convertAll } from '../../src/core/compress/branch-filter.ts';
import { isSihlError } from '../../src/core/errors.ts';
import { fromHex } from '../../src/core/format/bytes.ts';
import { openEnvelope } from '../../src/core/format/envelope.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { bufferSource, unpackPayload, verifyImage } from '../../src/core/image/index.ts';
import { buildFuzzers, FUZZ_TARGETS, fuzz, writeSeeds } from './c-fuzz.ts';
import {
  BOOTLOADER_DIR,
  buildHost,
  cToolchainMissing,
  type HostOutcome,
  run,
  runHost,
  writeTrust,
} from './c-host.ts';

interface Document {
  root: RootJson;
  device: { x25519Secret: string; x25519Public: string };
  cases: VectorCase[];
}
/** Bytes between two changed ones in the sweeps: 1 in the exhaustive run. */
const SWEEP_STEP = process.env.SIHL_EXHAUSTIVE === '1' ? 1 : 10;
const EVERY = SWEEP_STEP === 1 ? 'every byte' : `every ${SWEEP_STEP}th byte`;
const document = JSON.parse(await readFile(join(here, 'vectors.json'), 'utf8')) as Document;
const device = {
  publicKey: fromHex(document.device.x25519Public),
  secretKey: fromHex(document.device.x25519Secret),
};

// CI installs the toolchain and fetches the sources (.ci/run): there a missing piece is a failure.
const skip = (await cToolchainMissing()) ?? false;

let sanitized = '';
let fast = '';
let dir = '';
before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'sihl-c-host-'));
  await writeFile(join(dir, 'box-keys'), Buffer.concat([device.publicKey, device.secretKey]));
  sanitized = await buildHost('asan');
  fast = await buildHost('host');
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Expectation {
  readonly pinned: RootJson;
  readonly device?: VectorCase['device'];
  /** Leave the chunk chain walk (FORMAT.md §Verification step 6) to the unpacking. */
  readonly deferPayload?: boolean;
}

/** What the TypeScript verifier and unpacker say, with the stage that refused. */
async function typescript(
  bytes: Uint8Array,
  envelope: Uint8Array | undefined,
  e: Expectation,
): Promise<{ stage: string; reason: string; written: Uint8Array }> {
  const source = bufferSource(bytes);
  const trust = {
    root: { threshold: e.pinned.threshold, keys: e.pinned.keys.map(fromHex) },
    rootVersion: e.pinned.version,
  };
  let stage = 'verify';
  const parts: Uint8Array[] = [];
  const written = () => new Uint8Array(Buffer.concat(parts));
  try {
    const image = await verifyImage(source, trust, {
      ...(e.device ? { model: e.device.model, minSecurityVersion: e.device.securityCounter } : {}),
      payload: e.deferPayload !== true,
    });
    let key: Uint8Array | null = null;
    if (envelope && image.manifest.encryption.algorithm !== 'none') {
      stage = 'envelope';
      key = openEnvelope(envelope, device, streamBinding(image.manifestBytes));
    }
    stage = 'unpack';
    await unpackPayload(source, image, key, { write: async (c) => void parts.push(c.slice()) });
    return { stage, reason: 'OK', written: written() };
  } catch (error) {
    if (isSihlError(error)) return { stage, reason: error.code, written: written() };
    throw error;
  }
}

let counter = 0;
async function c(
  binary: string,
  bytes: Uint8Array,
  envelope: Uint8Array | undefined,
  e: Expectation,
): Promise<HostOutcome & { out: string }> {
  const n = counter++;
  const image = join(dir, `image-${n}.sihl`);
  const trust = join(dir, `trust-${n}`);
  const out = join(dir, `out-${n}`);
  await writeFile(image, bytes);
  const keys = e.pinned.keys.map(fromHex);
  await writeTrust(
    trust,
    { version: e.pinned.version, threshold: e.pinned.threshold, keys },
    0,
    e.device?.securityCounter ?? 0,
  );
  const args = [
    ...(e.deferPayload ? ['--defer-payload'] : []),
    '--image',
    image,
    '--trust',
    trust,
    '--out',
    out,
  ];
  if (e.device) args.push('--model', e.device.model);
  if (envelope) {
    const path = join(dir, `envelope-${n}`);
    await writeFile(path, envelope);
    args.push('--envelope', path, '--box-keys', join(dir, 'box-keys'));
  }
  return { ...(await runHost(binary, args)), out };
}

/**
 * The C core agrees with TypeScript: stage, reason code, and the firmware written. When unpacking
 * fails, each wrote the bytes it decoded before it found the failure (docs/BOOT.md §Install step 10):
 * xz-embedded and liblzma find a broken stream at different points, so one may have written more, but
 * what both wrote is the same bytes: the shorter output is the start of the longer one.
 */
async function agree(
  bytes: Uint8Array,
  envelope: Uint8Array | undefined,
  e: Expectation,
  what: string,
  binary = fast,
) {
  const ts = await typescript(bytes, envelope, e);
  const cc = await c(binary, bytes, envelope, e);
  assert.deepEqual([cc.stage, cc.reason], [ts.stage, ts.reason], `${what}: C and TypeScript agree`);
  if (cc.stage !== 'unpack') return ts;
  const ours = new Uint8Array(await readFile(cc.out));
  if (ts.reason === 'OK') assert.ok(Buffer.from(ours).equals(ts.written), `${what}: the same firmware`);
  else {
    const [shorter, longer] = ours.length <= ts.written.length ? [ours, ts.written] : [ts.written, ours];
    assert.ok(
      Buffer.from(longer.subarray(0, shorter.length)).equals(shorter),
      `${what}: before ${ts.reason}, C wrote ${ours.length} bytes and TypeScript ${ts.written.length}: the same bytes`,
    );
    decodedBeforeFailure.push(ours.length - ts.written.length);
  }
  return ts;
}

/** For each unpacking that failed: bytes C wrote before the failure minus those TypeScript wrote. */
const decodedBeforeFailure: number[] = [];

for (const v of document.cases) {
  test(`the C core gives ${v.expect} for vector ${v.file}, as TypeScript does`, { skip }, async () => {
    const bytes = new Uint8Array(await readFile(join(here, v.file)));
    const envelope = v.envelope ? new Uint8Array(await readFile(join(here, v.envelope))) : undefined;
    const ts = await agree(
      bytes,
      envelope,
      { pinned: v.pinnedRoot ?? document.root, ...(v.device ? { device: v.device } : {}) },
      v.file,
      sanitized,
    );
    assert.equal(ts.reason === 'OK' ? 'valid' : ts.reason, v.expect);
  });
}

/** What craftImage needs beside the payload: the vectors' firmware, delegation, approvers and ids. */
async function craftBase() {
  return {
    firmware: await vectorFirmware(),
    delegation: fixedDelegation(),
    signers: [fixed.alice, fixed.bob],
    releaseId: fixed.releaseId,
    created: fixed.created,
  };
}

test(`the C core and TypeScript agree on ${EVERY} flipped in the signed parts of an LZMA2 image`, {
  skip,
}, async () => {
  const bytes = new Uint8Array(await readFile(join(here, 'lzma2.sihl')));
  const view = Buffer.from(bytes);
  const signedEnd =
    32 + view.readUInt32LE(8) + view.readUInt32LE(12) + view.readUInt32LE(16) + view.readUInt32LE(20);
  const reasons = new Map<string, number>();
  for (let at = 0; at < signedEnd + 8; at += SWEEP_STEP) {
    const flipped = Uint8Array.from(bytes, (b, i) => (i === at ? b ^ 0x01 : b));
    const { reason } = await agree(flipped, undefined, { pinned: document.root }, `bit 0 of byte ${at}`);
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  assert.ok(!reasons.has('OK') || (reasons.get('OK') ?? 0) === 0, 'no flipped byte is accepted');
  assert.ok(reasons.size >= 6, `many different rules fire: ${[...reasons.keys()].join(', ')}`);
});

test('with the chain walk left to unpacking, both refuse a flipped payload byte at the chunk that holds it', {
  skip,
}, async () => {
  // FORMAT.md §Chunk chain: each stored chunk is checked in the read that fetches it, before its piece
  // is decrypted or decompressed; without that check these images fail later, on decryption or LZMA2.
  const base = await craftBase();
  const signed = craftImage(base, { chunkSize: 256 }).image;
  const encrypted = craftImage(base, { encryption: { chunkSize: 256 } });
  const envelope = envelopeFor(encrypted.contentKey as Uint8Array, encrypted.binding, device.publicKey);
  const cases = [
    { what: 'signed-only', bytes: signed, envelope: undefined },
    { what: 'encrypted', bytes: encrypted.image, envelope },
  ];
  for (const { what, bytes, envelope: env } of cases) {
    const view = Buffer.from(bytes);
    const payloadAt =
      32 + view.readUInt32LE(8) + view.readUInt32LE(12) + view.readUInt32LE(16) + view.readUInt32LE(20);
    assert.ok(bytes.length - payloadAt > 4 * 256, `${what}: several stored chunks`);
    for (let at = payloadAt; at < bytes.length; at += 37) {
      const flipped = Uint8Array.from(bytes, (b, i) => (i === at ? b ^ 0x10 : b));
      const e = { pinned: document.root, deferPayload: true };
      const ts = await agree(flipped, env, e, `${what} payload byte ${at - payloadAt}`);
      assert.deepEqual(
        [ts.stage, ts.reason],
        ['unpack', 'PAYLOAD_DIGEST_MISMATCH'],
        `${what} ${at - payloadAt}`,
      );
    }
    const intact = await agree(bytes, env, { pinned: document.root, deferPayload: true }, `${what} intact`);
    assert.equal(intact.reason, 'OK');
  }
});

test(`the C core and TypeScript agree on ${EVERY} flipped in a root chain of two statements`, {
  skip,
}, async () => {
  const bytes = new Uint8Array(await readFile(join(here, 'root-chain-stale-statement.sihl')));
  const view = Buffer.from(bytes);
  const chainAt = 32 + view.readUInt32LE(8) + view.readUInt32LE(12) + view.readUInt32LE(16);
  const chainEnd = chainAt + view.readUInt32LE(20);
  const v1 = document.root;
  const v2 = document.cases.find((x) => x.file === 'root-chain-stale-statement.sihl')?.pinnedRoot as RootJson;
  for (let at = chainAt; at < chainEnd; at += SWEEP_STEP) {
    const flipped = Uint8Array.from(bytes, (b, i) => (i === at ? b ^ 0x80 : b));
    await agree(flipped, undefined, { pinned: v1 }, `byte ${at}, pinned root 1`);
    await agree(flipped, undefined, { pinned: v2 }, `byte ${at}, pinned root 2`);
  }
});

test('the C core and TypeScript agree on every byte flipped in a key envelope', { skip }, async () => {
  const bytes = new Uint8Array(await readFile(join(here, 'lzma2-encrypted.sihl')));
  const envelope = new Uint8Array(await readFile(join(here, 'lzma2-encrypted.envelope')));
  for (let at = 0; at < envelope.length; at++) {
    const flipped = Uint8Array.from(envelope, (b, i) => (i === at ? b ^ 0x04 : b));
    const { reason } = await agree(bytes, flipped, { pinned: document.root }, `envelope byte ${at}`);
    assert.notEqual(reason, 'OK', `envelope byte ${at} flipped is refused`);
  }
});

// The short fuzzing pass of CI: npm run test:slow runs it (building the fuzzers costs most of its 13 s).
test('each libFuzzer harness runs over its seeds from the vectors without a finding', {
  skip: skip || (process.env.SIHL_EXHAUSTIVE === '1' ? false : 'npm run test:slow runs it'),
}, async () => {
  await buildFuzzers();
  const seeds = await writeSeeds();
  for (const target of FUZZ_TARGETS) {
    const result = await fuzz(target, seeds[target], 0);
    assert.equal(result.crashed, false, `${target}: ${result.output.split('\n').slice(-30).join('\n')}`);
    assert.ok(result.executions > 0, `${target} ran its seeds`);
  }
});

/** The vectors' firmware, Thumb-filtered, as Brotli at quality 11 and a 2^16 window (sihl's settings). */
async function brotliOfFirmware(): Promise<Uint8Array> {
  const filtered = convertAll((await craftBase()).firmware, 'thumb', 'encode');
  const params = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 16 };
  return new Uint8Array(brotliCompressSync(filtered, { params }));
}

/**
 * Each changed stream (SWEEP_STEP apart) signed into an image and given to both: they must agree.
 * Returns the reasons counted and, for the unpackings that failed, where the two decoders stopped.
 */
async function sweepStream(stream: Uint8Array, options: CraftOptions, what: string) {
  const base = await craftBase();
  const reasons = new Map<string, number>();
  const failuresBefore = decodedBeforeFailure.length;
  for (let at = 0; at < stream.length; at += SWEEP_STEP) {
    const mask = at % 2 === 0 ? 0x01 : 0x80;
    const changed = Uint8Array.from(stream, (b, i) => (i === at ? b ^ mask : b));
    const { image } = craftImage(base, { ...options, compressed: changed });
    const { reason } = await agree(image, undefined, { pinned: document.root }, `${what} byte ${at}`);
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const tried = [...reasons.values()].reduce((sum, n) => sum + n, 0);
  const failures = decodedBeforeFailure.slice(failuresBefore);
  const differing = failures.filter((d) => d !== 0);
  const summary = `${tried} streams (${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')}), ${failures.length} refused while unpacking; in ${differing.length} the decoders found the failure at different points${differing.length > 0 ? ` (C wrote ${Math.min(...differing)} to ${Math.max(...differing)} bytes more)` : ''}, the bytes both wrote the same`;
  return { reasons, tried, summary };
}

test(`the C and TypeScript LZMA2 decoders agree on ${EVERY} of a stream changed in turn, re-signed`, {
  skip,
}, async (t) => {
  // xz-embedded (C) and liblzma (TypeScript) are different decoders: the payload is changed before
  // signing, so each changed stream reaches the decoders (FORMAT.md §Compression).
  const stream = lzma2Of((await craftBase()).firmware, 16);
  const { reasons, tried, summary } = await sweepStream(stream, {}, 'LZMA2 stream');
  assert.ok((reasons.get('DECOMPRESS_FAILED') ?? 0) > tried / 2, 'most changes break the stream');
  t.diagnostic(summary);
});

test(`the C and TypeScript Brotli decoders agree on ${EVERY} of a stream changed in turn, re-signed`, {
  skip,
}, async (t) => {
  // Brotli 1.0.9 in C (Debian's sources) and Node's zlib in TypeScript, the same way.
  const stream = await brotliOfFirmware();
  const options = { algorithm: 'brotli', chunkSize: 256 } as const;
  const { reasons, tried, summary } = await sweepStream(stream, options, 'Brotli stream');
  const intact = craftImage(await craftBase(), { ...options, compressed: stream }).image;
  assert.equal((await agree(intact, undefined, { pinned: document.root }, 'intact Brotli')).reason, 'OK');
  assert.ok((reasons.get('OK') ?? 0) < tried / 2, `most changes are refused: ${summary}`);
  t.diagnostic(summary);
});

test("a Brotli stream that needs more than the decoder's arena is refused with LIMIT_EXCEEDED", {
  skip,
}, async () => {
  // docs/BOOTLOADER-C.md §Brotli: the host's arena holds what any stream needs; a device sets less.
  const stream = join(dir, 'firmware.br');
  await writeFile(stream, await brotliOfFirmware());
  const firmware = (await craftBase()).firmware;
  type Decoded = { reason: string; output: number; held: number };
  const decode = async (arena?: number) =>
    (await runHost(fast, [
      '--brotli-memory',
      '16',
      stream,
      ...(arena ? [String(arena)] : []),
    ])) as unknown as Decoded;
  const whole = await decode();
  assert.deepEqual([whole.reason, whole.output], ['OK', firmware.length]);
  assert.ok(
    whole.held > 65_536 && whole.held < 128 * 1024,
    `${whole.held} bytes held: the window and a few tables`,
  );
  assert.equal((await decode(whole.held + 32)).reason, 'OK', 'an arena as large as it held is enough');
  const short = await decode(whole.held - 1024);
  assert.deepEqual([short.reason, short.output], ['LIMIT_EXCEEDED', 0]);
});

test('the core and its LZMA2 and Brotli decoders call no allocator: no malloc, calloc, realloc or free', {
  skip,
}, async () => {
  const objects = join(BOOTLOADER_DIR, 'build', 'host');
  const inside = async (dir: string) => (await readdir(join(objects, dir))).map((f) => join(objects, dir, f));
  const files = [
    ...(await inside('sihl/core')),
    join(objects, 'deps', 'xz-embedded', 'xz_dec_lzma2.o'),
    ...(await inside('deps/brotli/c/dec')),
    ...(await inside('deps/brotli/c/common')),
  ].filter((f) => f.endsWith('.o'));
  assert.ok(files.length >= 15 + 1 + 9, 'the core and decoder objects are there');
  for (const file of files) {
    const nm = await run('nm', ['-u', file]);
    assert.equal(nm.code, 0, nm.stderr);
    const allocators = nm.stdout.split('\n').filter((l) => /\b(malloc|calloc|realloc|free|alloca)$/.test(l));
    assert.deepEqual(allocators, [], `${file} calls an allocator`);
  }
});
