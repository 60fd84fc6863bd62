// Packing firmware into a sealed image (docs/FORMAT.md): hash, branch-filter and compress the firmware
// in one streaming pass; then cut the compressed stream into chunks and encrypt them with a fresh
// content key, bound to the manifest; then chain the stored chunks backward (§Chunk chain); then write
// header, manifest, delegation and signatures in front of the payload. Memory stays bounded whatever
// the firmware size.
import { createReadStream } from 'node:fs';
import { type FileHandle, stat } from 'node:fs/promises';
import { type Clock, systemClock } from '../clock.ts';
import { convertAll } from '../compress/branch-filter.ts';
import { brotliCompressedSize, DEFAULT_WINDOW_LOG, defaultQuality, MIN_QUALITY } from '../compress/brotli.ts';
import type { SigningKey } from '../crypto/signer.ts';
import { randomBytes, wipe } from '../crypto/sodium.ts';
import { generateContentKey, STREAM_CHUNK_OVERHEAD, StreamEncryptor } from '../crypto/stream.ts';
import { naming, SihlError } from '../errors.ts';
import { decodeSignedDelegation } from '../format/delegation.ts';
import { encodeHeader, HEADER_BYTES } from '../format/header.ts';
import {
  type BranchFilter,
  type CompressionAlgorithm,
  encodeManifest,
  expectedPayloadSize,
  type Manifest,
  RELEASE_ID_BYTES,
  streamBinding,
} from '../format/manifest.ts';
import { chainLayout } from '../format/payload-chain.ts';
import { decodeRootChain } from '../format/root-chain.ts';
import { encodeSignatureBlock, signatureBlockSize } from '../format/signatures.ts';
import { writeAtomically } from '../fs.ts';
import { LIMITS } from '../limits.ts';
import { chainPass, GapWriter } from './chain-pass.ts';
import { compressPass, encryptPass, openScratch } from './pack-passes.ts';
import { imageMessage } from './read.ts';
import { checkSigners, signaturesFor } from './sign.ts';
import { PositionalWriter } from './write.ts';

export const DEFAULT_CHUNK_BYTES = 16 * 1024;
const FILTER_SAMPLE_BYTES = 1024 * 1024;

export interface PackOptions {
  readonly model: string;
  readonly version: string;
  readonly securityVersion?: number;
  /** Approvers sign this release as an explicit downgrade: a device may install it over a higher version. */
  readonly downgrade?: boolean;
  /** A signed delegation (root-signed approver keys), carried in the image. */
  readonly delegation: Uint8Array;
  /** The root chain (FORMAT.md §Root chain) that leads from the first root to the one that signed the delegation. */
  readonly rootChain?: Uint8Array;
  /** Approvers who sign right away; others can add theirs with signImage. */
  readonly signers?: readonly SigningKey[];
  readonly encrypt: boolean;
  /** brotli (the default), lzma2 (FORMAT.md §Compression: what a microcontroller's bootloader decodes) or none. */
  readonly compression?: CompressionAlgorithm;
  /** Brotli quality 2..11; by default 11 up to 8 MiB, 9 above. */
  readonly quality?: number;
  readonly windowLog?: number;
  readonly filter?: BranchFilter | 'auto';
  readonly chunkSize?: number;
  /** Seconds since the epoch; injected so tests and vectors are reproducible. */
  readonly now?: Clock;
  readonly releaseId?: Uint8Array;
  readonly overwrite?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface PackResult {
  readonly manifest: Manifest;
  readonly manifestBytes: Uint8Array;
  /** The content key, for sealing envelopes; null for a signed-only image. Wipe it when done. */
  readonly contentKey: Uint8Array | null;
  readonly size: number;
}

async function readSample(path: string, length: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start: 0, end: Math.max(0, length - 1) }))
    parts.push(chunk);
  return Buffer.concat(parts);
}

/** Picks the branch filter that compresses a sample of the firmware best (a fast quality suffices). */
export async function chooseFilter(path: string, size: number, windowLog: number): Promise<BranchFilter> {
  const sample = await readSample(path, Math.min(size, FILTER_SAMPLE_BYTES));
  let best: BranchFilter = 'none';
  let bestSize = Number.POSITIVE_INFINITY;
  for (const filter of ['none', 'thumb', 'arm'] as const) {
    const packed = brotliCompressedSize(convertAll(sample, filter, 'encode'), 5, windowLog);
    if (packed < bestSize) [best, bestSize] = [filter, packed];
  }
  return best;
}

function checkOptions(o: PackOptions): void {
  const chunk = o.chunkSize ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunk) || chunk < LIMITS.chunkBytesMin || chunk > LIMITS.chunkBytesMax) {
    throw new SihlError('USAGE', `chunk size must be ${LIMITS.chunkBytesMin}..${LIMITS.chunkBytesMax} bytes`);
  }
  const windowLog = o.windowLog ?? DEFAULT_WINDOW_LOG;
  const min = o.compression === 'lzma2' ? LIMITS.lzma2WindowLogMin : LIMITS.windowLogMin;
  if (!Number.isInteger(windowLog) || windowLog < min || windowLog > LIMITS.windowLogMax) {
    throw new SihlError('USAGE', `window log must be ${min}..${LIMITS.windowLogMax}`);
  }
  // Brotli's qualities 0 and 1 widen the window to 2^18 whatever is asked, so they are not offered.
  if (
    o.quality !== undefined &&
    (!Number.isInteger(o.quality) || o.quality < MIN_QUALITY || o.quality > 11)
  ) {
    throw new SihlError('USAGE', `compression level must be ${MIN_QUALITY}..11`);
  }
  const sv = o.securityVersion ?? 0;
  if (!Number.isInteger(sv) || sv < 0 || sv > 0xffffffff)
    throw new SihlError('USAGE', 'security version must be 0..4294967295');
  if (o.releaseId && o.releaseId.length !== RELEASE_ID_BYTES)
    throw new SihlError('USAGE', 'release id must be 16 bytes');
}

/** The firmware's size, refused when it is not a regular file, empty or over the limit. */
async function firmwareSize(input: string): Promise<number> {
  let size: number;
  try {
    const info = await stat(input);
    if (!info.isFile()) throw new SihlError('USAGE', 'firmware is not a regular file');
    size = info.size;
  } catch (error) {
    throw naming(input, error);
  }
  if (size === 0) throw new SihlError('USAGE', 'firmware file is empty', { subject: input });
  if (size > LIMITS.plaintextBytes) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `firmware is ${size} bytes; the limit is ${LIMITS.plaintextBytes}`,
      { subject: input },
    );
  }
  return size;
}

interface Packing {
  readonly compression: Manifest['compression']['algorithm'];
  readonly windowLog: number;
  readonly filter: BranchFilter | 'none';
  readonly quality: number;
  readonly chunkSize: number;
}

/** How to compress: the options given, or the defaults for this size (and the filter that fits best). */
async function packingFor(input: string, size: number, options: PackOptions): Promise<Packing> {
  const compression = options.compression ?? 'brotli';
  const windowLog = compression === 'none' ? 0 : (options.windowLog ?? DEFAULT_WINDOW_LOG);
  const filter =
    compression === 'none'
      ? 'none'
      : (options.filter ?? 'auto') === 'auto'
        ? await chooseFilter(input, size, Math.max(windowLog, LIMITS.windowLogMin))
        : (options.filter as BranchFilter);
  const quality = options.quality ?? defaultQuality(size);
  return { compression, windowLog, filter, quality, chunkSize: options.chunkSize ?? DEFAULT_CHUNK_BYTES };
}

/** Everything in front of the payload has a size known now; only its contents wait for the digests. */
function baseManifest(
  options: PackOptions,
  size: number,
  chunkSize: number,
  encryptor: StreamEncryptor | null,
): Manifest {
  return {
    model: options.model,
    version: options.version,
    securityVersion: options.securityVersion ?? 0,
    releaseId: options.releaseId ?? randomBytes(RELEASE_ID_BYTES),
    created: Math.floor((options.now ?? systemClock)().getTime() / 1000),
    plaintextSize: size,
    plaintextDigest: new Uint8Array(32),
    compression: { algorithm: 'none', windowLog: 0, filter: 'none', compressedSize: size },
    encryption: encryptor ? { algorithm: 'secretstream', header: encryptor.header } : { algorithm: 'none' },
    chunkSize,
    payloadSize: expectedPayloadSize(size, chunkSize, encryptor !== null),
    payloadDigest: new Uint8Array(32),
    downgrade: options.downgrade === true,
  };
}

interface Layout {
  readonly base: Manifest;
  readonly manifestLength: number;
  readonly signatureLength: number;
  readonly payloadOffset: number;
  readonly rootChain: Uint8Array;
}

/** Header, manifest, delegation, signatures and root chain, written last at offset 0. */
function frontMatter(manifestBytes: Uint8Array, options: PackOptions, layout: Layout, payloadSize: number) {
  if (manifestBytes.length !== layout.manifestLength)
    throw new SihlError('INTERNAL', 'manifest length changed while packing');
  const signatures = signaturesFor(imageMessage(manifestBytes), options.signers ?? []);
  return Buffer.concat([
    encodeHeader({
      manifestLength: layout.manifestLength,
      delegationLength: options.delegation.length,
      signatureBlockLength: layout.signatureLength,
      rootChainLength: layout.rootChain.length,
      payloadLength: payloadSize,
    }),
    manifestBytes,
    options.delegation,
    encodeSignatureBlock(signatures),
    layout.rootChain,
  ]);
}

/** The two passes into an open output file, then the front matter. */
async function writeImage(
  handle: FileHandle,
  io: { input: string; output: string; size: number },
  options: PackOptions,
  packing: Packing,
  layout: Layout,
  encryptor: StreamEncryptor | null,
): Promise<{ manifest: Manifest; manifestBytes: Uint8Array; payloadSize: number }> {
  const { compression, windowLog, filter, quality, chunkSize } = packing;
  const writer = new PositionalWriter(handle, layout.payloadOffset);
  // Pass 1: hash, filter and compress. A signed-only payload goes straight into the image; an
  // encrypted one waits in a temporary file, because every chunk is bound to a manifest whose
  // sizes and plaintext digest are known only at the end of this pass (FORMAT.md §Stream binding).
  const compressed = encryptor ? await openScratch(io.output) : undefined;
  try {
    const sink = compressed
      ? new PositionalWriter(compressed.handle, 0)
      : new GapWriter(chunkSize, (bytes) => writer.write(bytes));
    const pass = await compressPass(
      io.input,
      io.size,
      { compression, filter, quality, windowLog },
      (bytes) => sink.write(bytes),
      options.onProgress,
    );
    if (sink instanceof PositionalWriter) await sink.flush();
    const payloadSize = expectedPayloadSize(pass.compressedSize, chunkSize, encryptor !== null);
    let manifest: Manifest = {
      ...layout.base,
      plaintextDigest: pass.plaintextDigest,
      compression: { algorithm: compression, windowLog, filter, compressedSize: pass.compressedSize },
      payloadSize,
    };
    // Pass 2: encrypt the compressed stream in chunks, each bound to the manifest.
    if (encryptor && compressed) {
      const binding = streamBinding(encodeManifest(manifest));
      const pieces = new GapWriter(chunkSize + STREAM_CHUNK_OVERHEAD, (bytes) => writer.write(bytes));
      await encryptPass(compressed.handle, pass.compressedSize, chunkSize, encryptor, binding, (bytes) =>
        pieces.write(bytes),
      );
    }
    await writer.flush();
    // Pass 3: link the stored chunks, last to first; the first one's digest is signed.
    const chain = chainLayout(pass.compressedSize, chunkSize, encryptor !== null);
    const head = await chainPass(handle, layout.payloadOffset, chain);
    manifest = { ...manifest, payloadDigest: head };
    const manifestBytes = encodeManifest(manifest);
    const front = new PositionalWriter(handle, 0);
    await front.write(frontMatter(manifestBytes, options, layout, payloadSize));
    await front.flush();
    return { manifest, manifestBytes, payloadSize };
  } finally {
    await compressed?.dispose();
  }
}

export async function packImage(input: string, output: string, options: PackOptions): Promise<PackResult> {
  checkOptions(options);
  const size = await firmwareSize(input);
  const signed = decodeSignedDelegation(options.delegation);
  const rootChain = options.rootChain ?? new Uint8Array(0);
  decodeRootChain(rootChain);
  const signers = options.signers ?? [];
  checkSigners(signed.delegation, signers, []);
  const packing = await packingFor(input, size, options);
  const contentKey = options.encrypt ? generateContentKey() : null;
  const encryptor = contentKey ? new StreamEncryptor(contentKey) : null;
  const base = baseManifest(options, size, packing.chunkSize, encryptor);
  const manifestLength = encodeManifest(base).length;
  const signatureLength = signatureBlockSize(signers.length);
  const payloadOffset =
    HEADER_BYTES + manifestLength + options.delegation.length + signatureLength + rootChain.length;
  const layout: Layout = { base, manifestLength, signatureLength, payloadOffset, rootChain };
  try {
    return await writeAtomically(output, { overwrite: options.overwrite ?? false }, async (handle) => {
      const io = { input, output, size };
      const written = await writeImage(handle, io, options, packing, layout, encryptor);
      return {
        manifest: written.manifest,
        manifestBytes: written.manifestBytes,
        contentKey: contentKey ? contentKey.slice() : null,
        size: payloadOffset + written.payloadSize,
      };
    });
  } finally {
    if (contentKey) wipe(contentKey);
  }
}
