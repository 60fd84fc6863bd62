// Hand-made images for the vectors that a packer never writes: payloads that break a rule after the
// signatures pass (so the image is validly signed by alice and bob), secretstream tags other than
// MESSAGE and FINAL, LZMA2 streams with bytes after their end. Used by generate.ts only.
import { convertAll } from '../../src/core/compress/branch-filter.ts';
import { lzma2Compress } from '../../src/core/compress/lzma2.ts';
import { encryptWithTags, generateContentKey, sha256 } from '../../src/core/crypto/index.ts';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { encodeHeader } from '../../src/core/format/header.ts';
import { encodeManifest, type Manifest, streamBinding } from '../../src/core/format/manifest.ts';
import { chainLayout } from '../../src/core/format/payload-chain.ts';
import { encodeSignatureBlock, signEntry } from '../../src/core/format/signatures.ts';
import { chainPieces } from '../../src/core/image/chain-pass.ts';
import { imageMessage } from '../../src/core/image/index.ts';

/** What the packer's settings would be, and what the vector changes. */
export interface CraftBase {
  readonly firmware: Uint8Array;
  readonly delegation: Uint8Array;
  readonly rootChain?: Uint8Array;
  readonly signers: readonly { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array }[];
  readonly releaseId: Uint8Array;
  readonly created: number;
  readonly model?: string;
  readonly securityVersion?: number;
}

export const TAG = { message: 0, push: 1, rekey: 2, final: 3 } as const;

export interface CraftOptions {
  /** The compressed stream as stored (after the Thumb filter and LZMA2 by default). */
  readonly compressed?: Uint8Array;
  /** The algorithm the manifest names for `compressed` (LZMA2 by default). */
  readonly algorithm?: 'brotli' | 'lzma2';
  readonly windowLog?: number;
  /** Chunk size of a signed-only image (16384 by default); an encrypted one takes encryption's. */
  readonly chunkSize?: number;
  /** Encrypt in chunks of this size with these tags (one per message); null: signed only. */
  readonly encryption?: {
    readonly chunkSize: number;
    readonly tags?: readonly number[];
    /** Messages (by index) whose plaintext is replaced by bytes no LZMA2 decoder accepts. */
    readonly garbage?: readonly number[];
    /** Messages (by index) whose ciphertext gets one bit flipped after encryption (then signed). */
    readonly flipped?: readonly number[];
  } | null;
}

/** The Thumb-filtered firmware as raw LZMA2 at 2^windowLog. */
export function lzma2Of(firmware: Uint8Array, windowLog: number): Uint8Array {
  return lzma2Compress(convertAll(firmware, 'thumb', 'encode'), windowLog);
}

/** FORMAT.md §Chunk chain: the pieces stored with their links, the manifest naming the chain's head. */
function assemble(base: CraftBase, unchained: Manifest, pieces: readonly Uint8Array[]): Uint8Array {
  const { payload, digest } = chainPieces(pieces);
  const manifestBytes = encodeManifest({ ...unchained, payloadDigest: digest });
  const message = imageMessage(manifestBytes);
  const block = encodeSignatureBlock(base.signers.map((k) => signEntry(k.secretKey, k.publicKey, message)));
  const rootChain = base.rootChain ?? new Uint8Array(0);
  return Buffer.concat([
    encodeHeader({
      manifestLength: manifestBytes.length,
      delegationLength: base.delegation.length,
      signatureBlockLength: block.length,
      rootChainLength: rootChain.length,
      payloadLength: payload.length,
    }),
    manifestBytes,
    base.delegation,
    block,
    rootChain,
    payload,
  ]);
}

/** A validly signed image of `base.firmware` (LZMA2 unless told otherwise), with the payload the options make. */
export function craftImage(
  base: CraftBase,
  options: CraftOptions = {},
): { image: Uint8Array; contentKey: Uint8Array | null; binding: Uint8Array } {
  const windowLog = options.windowLog ?? 16;
  const compressed = options.compressed ?? lzma2Of(base.firmware, windowLog);
  const enc = options.encryption ?? null;
  const chunkSize = enc?.chunkSize ?? options.chunkSize ?? 16384;
  const layout = chainLayout(compressed.length, chunkSize, enc !== null);
  const chunks = layout.count;
  const contentKey = enc ? generateContentKey() : null;
  const manifest: Manifest = {
    model: base.model ?? 'movehub',
    version: '7.28.0',
    securityVersion: base.securityVersion ?? 3,
    releaseId: base.releaseId,
    created: base.created,
    plaintextSize: base.firmware.length,
    plaintextDigest: sha256(base.firmware),
    compression: {
      algorithm: options.algorithm ?? 'lzma2',
      windowLog,
      filter: 'thumb',
      compressedSize: compressed.length,
    },
    encryption: enc ? { algorithm: 'secretstream', header: new Uint8Array(24) } : { algorithm: 'none' },
    chunkSize,
    payloadSize: layout.payloadBytes,
    downgrade: false,
    payloadDigest: new Uint8Array(32),
  };
  const pieceOf = (i: number) =>
    compressed.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, compressed.length));
  if (!enc || !contentKey) {
    const binding = streamBinding(encodeManifest(manifest));
    const pieces = Array.from({ length: chunks }, (_, i) => pieceOf(i));
    return { image: assemble(base, manifest, pieces), contentKey, binding };
  }
  const messages = Array.from({ length: chunks }, (_, i) => {
    const plain = pieceOf(i);
    const plaintext = enc.garbage?.includes(i) ? new Uint8Array(plain.length).fill(0x55) : plain;
    const tag = enc.tags?.[i] ?? (i === chunks - 1 ? TAG.final : TAG.message);
    return { plaintext, tag };
  });
  return encryptedImage(base, manifest, contentKey, messages, enc.flipped ?? []);
}

function encryptedImage(
  base: CraftBase,
  manifest: Manifest,
  contentKey: Uint8Array,
  messages: { plaintext: Uint8Array; tag: number }[],
  flipped: readonly number[],
): { image: Uint8Array; contentKey: Uint8Array; binding: Uint8Array } {
  let binding: Uint8Array = new Uint8Array(0);
  let withHeader = manifest;
  const { ciphertexts } = encryptWithTags(
    contentKey,
    (header) => {
      withHeader = { ...manifest, encryption: { algorithm: 'secretstream', header } };
      binding = streamBinding(encodeManifest(withHeader));
      return binding;
    },
    messages,
  );
  for (const i of flipped) {
    const c = ciphertexts[i];
    if (c) c[c.length - 1] = (c[c.length - 1] as number) ^ 1;
  }
  return { image: assemble(base, withHeader, ciphertexts), contentKey, binding };
}

export function envelopeFor(
  contentKey: Uint8Array,
  binding: Uint8Array,
  devicePublicKey: Uint8Array,
): Uint8Array {
  return sealEnvelope(contentKey, binding, devicePublicKey);
}
