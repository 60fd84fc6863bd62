// Parses the parts of an image before its payload, each bounded by LIMITS before it is read
// (docs/FORMAT.md §Header, §Layout). Nothing here checks signatures: see verify.ts.
import { SihlError } from '../errors.ts';
import { utf8 } from '../format/bytes.ts';
import { decodeSignedDelegation, type SignedDelegation } from '../format/delegation.ts';
import { decodeHeader, HEADER_BYTES, type Header, imageSize } from '../format/header.ts';
import { decodeManifest, type Manifest } from '../format/manifest.ts';
import { decodeRootChain, type RootStatement } from '../format/root-chain.ts';
import { decodeSignatureBlock, type SignatureEntry } from '../format/signatures.ts';
import type { ByteSource } from './source.ts';

export interface ParsedImage {
  readonly header: Header;
  readonly manifestBytes: Uint8Array;
  readonly manifest: Manifest;
  readonly delegationBytes: Uint8Array;
  readonly delegation: SignedDelegation;
  readonly signatures: readonly SignatureEntry[];
  readonly rootChainBytes: Uint8Array;
  readonly rootChain: readonly RootStatement[];
  readonly payloadOffset: number;
}

const IMAGE_CONTEXT = utf8.encode('sihl/v1/image\0');

/** What approvers sign: a context string and the manifest bytes (FORMAT.md §What approvers sign). */
export function imageMessage(manifestBytes: Uint8Array): Uint8Array {
  return Buffer.concat([IMAGE_CONTEXT, manifestBytes]);
}

export async function readImage(source: ByteSource): Promise<ParsedImage> {
  if (source.size < HEADER_BYTES) {
    throw new SihlError(
      'IMAGE_TRUNCATED',
      `image is ${source.size} bytes, shorter than its ${HEADER_BYTES}-byte header`,
    );
  }
  const header = decodeHeader(await source.read(0, HEADER_BYTES));
  const expected = imageSize(header);
  if (source.size < expected) {
    throw new SihlError('IMAGE_TRUNCATED', `image is ${source.size} bytes; its header describes ${expected}`);
  }
  if (source.size > expected) {
    throw new SihlError(
      'IMAGE_TRAILING_BYTES',
      `image has ${source.size - expected} bytes after its payload`,
    );
  }
  let offset = HEADER_BYTES;
  const next = async (length: number) => {
    const bytes = await source.read(offset, length);
    offset += length;
    return bytes;
  };
  const manifestBytes = (await next(header.manifestLength)).slice();
  const delegationBytes = (await next(header.delegationLength)).slice();
  const signatureBytes = (await next(header.signatureBlockLength)).slice();
  const rootChainBytes = (await next(header.rootChainLength)).slice();
  const manifest = decodeManifest(manifestBytes);
  if (manifest.payloadSize !== header.payloadLength) {
    throw new SihlError('IMAGE_BAD_HEADER', 'header payload length differs from the signed manifest');
  }
  return {
    header,
    manifestBytes,
    manifest,
    delegationBytes,
    delegation: decodeSignedDelegation(delegationBytes),
    signatures: decodeSignatureBlock(signatureBytes),
    rootChainBytes,
    rootChain: decodeRootChain(rootChainBytes),
    payloadOffset: offset,
  };
}
