// The image manifest (docs/FORMAT.md §Manifest): thirteen records in a fixed order, each tag, length and
// value, so there is exactly one encoding of any manifest. The payload digest (the head of the payload's
// chunk chain) is the last record; the bytes before it are what the encrypted stream is bound to
// (§Stream binding).

import { DIGEST_BYTES, sha256 } from '../crypto/hash.ts';
import { STREAM_HEADER_BYTES } from '../crypto/stream.ts';
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteReader, ByteWriter, fromUtf8, utf8 } from './bytes.ts';
import { chainLayout } from './payload-chain.ts';

export const RELEASE_ID_BYTES = 16;

export type CompressionAlgorithm = 'none' | 'brotli' | 'lzma2';
export type BranchFilter = 'none' | 'thumb' | 'arm';

export interface Compression {
  readonly algorithm: CompressionAlgorithm;
  /** log2 of the decoder window; 0 when not compressed. */
  readonly windowLog: number;
  readonly filter: BranchFilter;
  readonly compressedSize: number;
}

export type Encryption =
  | { readonly algorithm: 'none' }
  | { readonly algorithm: 'secretstream'; readonly header: Uint8Array };

export interface Manifest {
  readonly model: string;
  readonly version: string;
  readonly securityVersion: number;
  readonly releaseId: Uint8Array;
  /** Seconds since the Unix epoch. */
  readonly created: number;
  readonly plaintextSize: number;
  readonly plaintextDigest: Uint8Array;
  readonly compression: Compression;
  readonly encryption: Encryption;
  readonly chunkSize: number;
  readonly payloadSize: number;
  /** SHA-256 of the payload's first stored chunk: the head of its chunk chain (FORMAT.md §Chunk chain). */
  readonly payloadDigest: Uint8Array;
  /** Approvers signed this release as an explicit downgrade (FORMAT.md §Manifest, flags). */
  readonly downgrade?: boolean;
}

/** Flag bit 0: the release may replace a higher version (never below the security counter). */
const FLAG_DOWNGRADE = 1;

const TAG = {
  model: 1,
  version: 2,
  securityVersion: 3,
  releaseId: 4,
  created: 5,
  plaintextSize: 6,
  plaintextDigest: 7,
  compression: 8,
  encryption: 9,
  chunkSize: 10,
  payloadSize: 11,
  flags: 13,
  payloadDigest: 12,
} as const;

const COMPRESSION_CODES: readonly CompressionAlgorithm[] = ['none', 'brotli', 'lzma2'];
const FILTER_CODES: readonly BranchFilter[] = ['none', 'thumb', 'arm'];
const ENCRYPTION_CODES = ['none', 'secretstream'] as const;
const PAYLOAD_DIGEST_RECORD_BYTES = 3 + DIGEST_BYTES;
const MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+-]*$/;
const STREAM_BINDING_CONTEXT = utf8.encode('sihl/v1/stream\0');

/** Size of the payload that a manifest's compression, chunking and encryption imply (with its links). */
export function expectedPayloadSize(compressedSize: number, chunkSize: number, encrypted: boolean): number {
  return chainLayout(compressedSize, chunkSize, encrypted).payloadBytes;
}

export function checkModel(model: string): string {
  if (utf8.encode(model).length > LIMITS.modelBytes || !MODEL_PATTERN.test(model)) {
    throw new SihlError(
      'USAGE',
      `model "${model}" must be 1 to 64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`,
    );
  }
  return model;
}

export function checkVersion(version: string): string {
  if (utf8.encode(version).length > LIMITS.versionBytes || !VERSION_PATTERN.test(version)) {
    throw new SihlError('USAGE', `version "${version}" must be 1 to 64 of 0-9 A-Z a-z . + -`);
  }
  return version;
}

export function encodeManifest(m: Manifest): Uint8Array {
  const w = new ByteWriter();
  const record = (tag: number, value: Uint8Array) => w.u8(tag).u16(value.length).bytes(value);
  const u32 = (v: number) => new ByteWriter().u32(v).finish();
  const u64 = (v: number) => new ByteWriter().u64(v).finish();
  record(TAG.model, utf8.encode(checkModel(m.model)));
  record(TAG.version, utf8.encode(checkVersion(m.version)));
  record(TAG.securityVersion, u32(m.securityVersion));
  record(TAG.releaseId, m.releaseId);
  record(TAG.created, u64(m.created));
  record(TAG.plaintextSize, u64(m.plaintextSize));
  record(TAG.plaintextDigest, m.plaintextDigest);
  record(
    TAG.compression,
    new ByteWriter()
      .u8(COMPRESSION_CODES.indexOf(m.compression.algorithm))
      .u8(m.compression.windowLog)
      .u8(FILTER_CODES.indexOf(m.compression.filter))
      .u64(m.compression.compressedSize)
      .finish(),
  );
  const header =
    m.encryption.algorithm === 'secretstream' ? m.encryption.header : new Uint8Array(STREAM_HEADER_BYTES);
  record(
    TAG.encryption,
    new ByteWriter().u8(ENCRYPTION_CODES.indexOf(m.encryption.algorithm)).bytes(header).finish(),
  );
  record(TAG.chunkSize, u32(m.chunkSize));
  record(TAG.payloadSize, u64(m.payloadSize));
  record(TAG.flags, u32(m.downgrade === true ? FLAG_DOWNGRADE : 0));
  record(TAG.payloadDigest, m.payloadDigest);
  const bytes = w.finish();
  decodeManifest(bytes); // what we write must be what we would accept
  return bytes;
}

/** Strict decoding: every record present once, in order, with its exact length; then consistency. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > LIMITS.manifestBytes) {
    throw new SihlError(
      'LIMIT_EXCEEDED',
      `manifest is ${bytes.length} bytes; the limit is ${LIMITS.manifestBytes}`,
    );
  }
  const r = new ByteReader(bytes, 'MANIFEST_MALFORMED', 'manifest');
  const record = (tag: number, name: string, length?: number): ByteReader => {
    const actual = r.u8();
    if (actual !== tag) r.fail(`expected record ${tag} (${name}), found ${actual}`);
    const size = r.u16();
    if (length !== undefined && size !== length) r.fail(`${name} must be ${length} bytes, not ${size}`);
    return new ByteReader(r.bytes(size), 'MANIFEST_MALFORMED', `manifest ${name}`);
  };
  const text = (field: ByteReader, name: string, limit: number, pattern: RegExp): string => {
    if (field.remaining > limit) field.fail(`${name} longer than ${limit} bytes`);
    let value: string;
    try {
      value = fromUtf8.decode(field.bytes(field.remaining));
    } catch {
      return field.fail(`${name} is not UTF-8`);
    }
    if (!pattern.test(value)) field.fail(`${name} "${value}" has characters outside the allowed set`);
    return value;
  };
  const model = text(record(TAG.model, 'model'), 'model', LIMITS.modelBytes, MODEL_PATTERN);
  const version = text(record(TAG.version, 'version'), 'version', LIMITS.versionBytes, VERSION_PATTERN);
  const securityVersion = record(TAG.securityVersion, 'security version', 4).u32();
  const releaseId = record(TAG.releaseId, 'release id', RELEASE_ID_BYTES).bytes(RELEASE_ID_BYTES).slice();
  const created = record(TAG.created, 'creation time', 8).u64();
  const plaintextSize = record(TAG.plaintextSize, 'plaintext size', 8).u64();
  const plaintextDigest = record(TAG.plaintextDigest, 'plaintext digest', DIGEST_BYTES)
    .bytes(DIGEST_BYTES)
    .slice();
  const c = record(TAG.compression, 'compression', 11);
  const algorithm = COMPRESSION_CODES[c.u8()] ?? c.fail('unknown compression algorithm');
  const windowLog = c.u8();
  const filter = FILTER_CODES[c.u8()] ?? c.fail('unknown branch filter');
  const compressedSize = c.u64();
  const e = record(TAG.encryption, 'encryption', 1 + STREAM_HEADER_BYTES);
  const encryptionCode = ENCRYPTION_CODES[e.u8()] ?? e.fail('unknown encryption algorithm');
  const header = e.bytes(STREAM_HEADER_BYTES).slice();
  const chunkSize = record(TAG.chunkSize, 'chunk size', 4).u32();
  const payloadSize = record(TAG.payloadSize, 'payload size', 8).u64();
  const f = record(TAG.flags, 'flags', 4);
  const flags = f.u32();
  if ((flags & ~FLAG_DOWNGRADE) !== 0) f.fail(`unknown flags 0x${flags.toString(16)}`);
  const payloadDigest = record(TAG.payloadDigest, 'payload digest', DIGEST_BYTES).bytes(DIGEST_BYTES).slice();
  r.end();

  const manifest: Manifest = {
    model,
    version,
    securityVersion,
    releaseId,
    created,
    plaintextSize,
    plaintextDigest,
    compression: { algorithm, windowLog, filter, compressedSize },
    encryption:
      encryptionCode === 'secretstream' ? { algorithm: 'secretstream', header } : { algorithm: 'none' },
    chunkSize,
    payloadSize,
    payloadDigest,
    ...((flags & FLAG_DOWNGRADE) !== 0 ? { downgrade: true } : {}),
  };
  checkConsistency(manifest, header);
  return manifest;
}

function checkConsistency(m: Manifest, header: Uint8Array): void {
  const fail = (message: string): never => {
    throw new SihlError('MANIFEST_INCONSISTENT', `manifest: ${message}`);
  };
  const limit = (what: string, value: number, max: number) => {
    if (value > max)
      throw new SihlError('LIMIT_EXCEEDED', `manifest: ${what} ${value} is above the limit ${max}`);
  };
  limit('plaintext size', m.plaintextSize, LIMITS.plaintextBytes);
  limit('chunk size', m.chunkSize, LIMITS.chunkBytesMax);
  if (m.plaintextSize === 0) fail('plaintext size is zero');
  if (m.chunkSize < LIMITS.chunkBytesMin) fail(`chunk size ${m.chunkSize} is below ${LIMITS.chunkBytesMin}`);
  const { algorithm, windowLog, filter, compressedSize } = m.compression;
  if (algorithm === 'none') {
    if (windowLog !== 0 || filter !== 'none') fail('uncompressed payload with a window or filter');
    if (compressedSize !== m.plaintextSize) fail('uncompressed size differs from plaintext size');
  } else {
    // FORMAT.md §Manifest: Brotli 2^10..2^16, LZMA2 2^12 (liblzma's smallest dictionary)..2^16.
    const min = algorithm === 'lzma2' ? LIMITS.lzma2WindowLogMin : LIMITS.windowLogMin;
    if (windowLog < min || windowLog > LIMITS.windowLogMax) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `manifest: window log ${windowLog} outside ${min}..${LIMITS.windowLogMax}`,
      );
    }
    if (compressedSize === 0) fail('compressed size is zero');
    limit('compressed size', compressedSize, LIMITS.compressedBytes);
  }
  if (m.encryption.algorithm === 'none' && header.some((b) => b !== 0))
    fail('stream header set without encryption');
  if (m.payloadSize !== expectedPayloadSize(compressedSize, m.chunkSize, m.encryption.algorithm !== 'none')) {
    fail('payload size does not match compressed size, chunk size and encryption');
  }
}

/** SHA-256 over the manifest up to its payload digest: the associated data of every stream chunk. */
export function streamBinding(manifestBytes: Uint8Array): Uint8Array {
  return sha256(
    STREAM_BINDING_CONTEXT,
    manifestBytes.subarray(0, manifestBytes.length - PAYLOAD_DIGEST_RECORD_BYTES),
  );
}
