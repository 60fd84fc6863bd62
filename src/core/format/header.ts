// The fixed 32-byte image header (docs/FORMAT.md §Header). It is not signed itself; every field is
// either a constant or a length that the verifier checks against signed data and the image size.
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteReader, ByteWriter } from './bytes.ts';

export const MAGIC = Uint8Array.of(0x53, 0x49, 0x48, 0x4c); // "SIHL"
/** Version 2 stores the payload as a chunk chain (FORMAT.md §Chunk chain); version 1 is not read. */
export const FORMAT_VERSION = 2;
export const HEADER_BYTES = 32;

export interface Header {
  readonly manifestLength: number;
  readonly delegationLength: number;
  readonly signatureBlockLength: number;
  /** 0 when the image carries no root chain (its delegation is signed by the first root). */
  readonly rootChainLength: number;
  readonly payloadLength: number;
}

export function encodeHeader(h: Header): Uint8Array {
  return new ByteWriter()
    .bytes(MAGIC)
    .u16(FORMAT_VERSION)
    .u16(HEADER_BYTES)
    .u32(h.manifestLength)
    .u32(h.delegationLength)
    .u32(h.signatureBlockLength)
    .u32(h.rootChainLength)
    .u64(h.payloadLength)
    .finish();
}

export function imageSize(h: Header): number {
  return (
    HEADER_BYTES +
    h.manifestLength +
    h.delegationLength +
    h.signatureBlockLength +
    h.rootChainLength +
    h.payloadLength
  );
}

/** Decodes and bounds every length before any of those bytes are read. */
export function decodeHeader(bytes: Uint8Array): Header {
  if (bytes.length < HEADER_BYTES)
    throw new SihlError('IMAGE_TRUNCATED', `image is shorter than its ${HEADER_BYTES}-byte header`);
  const r = new ByteReader(bytes.subarray(0, HEADER_BYTES), 'IMAGE_BAD_HEADER', 'header');
  const magic = r.bytes(4);
  if (!magic.every((b, i) => b === MAGIC[i]))
    throw new SihlError('IMAGE_BAD_MAGIC', 'not a sihl image (bad magic)');
  const version = r.u16();
  if (version !== FORMAT_VERSION) {
    throw new SihlError(
      'IMAGE_UNSUPPORTED_VERSION',
      `image format version ${version}; this sihl reads version ${FORMAT_VERSION}`,
    );
  }
  if (r.u16() !== HEADER_BYTES) r.fail(`header length must be ${HEADER_BYTES}`);
  // In field order, so the first bad field decides the error (FORMAT.md §Header).
  const bound = (what: string, value: number, max: number) => {
    if (value > max)
      throw new SihlError('LIMIT_EXCEEDED', `header: ${what} ${value} is above the limit ${max}`);
    return value;
  };
  const manifestLength = bound('manifest length', r.u32(), LIMITS.manifestBytes);
  const delegationLength = bound('delegation length', r.u32(), LIMITS.delegationBytes);
  const signatureBlockLength = bound('signature block length', r.u32(), LIMITS.signatureBlockBytes);
  const rootChainLength = bound('root chain length', r.u32(), LIMITS.rootChainBytes);
  const payloadLength = bound('payload length', r.u64(), LIMITS.payloadBytes);
  return { manifestLength, delegationLength, signatureBlockLength, rootChainLength, payloadLength };
}
