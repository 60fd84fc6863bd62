// Verification of a whole image from nothing but the root keys a device pins (docs/FORMAT.md
// §Verification): the root chain from the pinned root, the delegation by the root it leads to, the
// manifest by approvers, then the payload's chunk chain, in that order, before a single payload byte
// is decrypted or decompressed. A bootloader skips the chain walk here and authenticates each chunk as
// it installs it (docs/BOOT.md §Install).

import { Sha256 } from '../crypto/hash.ts';
import { SihlError } from '../errors.ts';
import { verifyDelegation } from '../format/delegation.ts';
import { type VersionedRoot, verifyRootChain } from '../format/root-chain.ts';
import type { KeySet } from '../format/signatures.ts';
import { verifyThreshold } from '../format/signatures.ts';
import { forEachPiece } from './chain-read.ts';
import { imageMessage, type ParsedImage, readImage } from './read.ts';
import type { ByteSource } from './source.ts';

export interface TrustAnchors {
  /** The pinned root keys and how many must sign a delegation. */
  readonly root: KeySet;
  /** The version of those root keys (1, the first root, by default). */
  readonly rootVersion?: number;
  /** Highest delegation version accepted so far (a device's memory); 0 accepts any. */
  readonly minDelegationVersion?: number;
}

export interface VerifyOptions {
  /** Refuse an image for another model. */
  readonly model?: string;
  /** Refuse an image whose security version is below this (the anti-rollback counter). */
  readonly minSecurityVersion?: number;
  /** Bytes read at a time while hashing the payload (a bootloader passes its buffer size). */
  readonly readBytes?: number;
  /**
   * Walk the payload's chunk chain now (FORMAT.md §Verification step 6); true by default. A reader that
   * unpacks straight away may skip it: unpacking authenticates every chunk it reads.
   */
  readonly payload?: boolean;
}

export interface VerifiedImage extends ParsedImage {
  /** Key ids of the approvers whose signatures counted. */
  readonly approvers: readonly Uint8Array[];
  /** The root the delegation was verified with: the pinned one, or the newest its root chain led to. */
  readonly root: VersionedRoot;
}

const READ_STEP = 256 * 1024;

export async function verifyImage(
  source: ByteSource,
  trust: TrustAnchors,
  options: VerifyOptions = {},
): Promise<VerifiedImage> {
  const image = await readImage(source);
  const root = verifyRootChain(image.rootChain, { ...trust.root, version: trust.rootVersion ?? 1 });
  const delegation = verifyDelegation(image.delegation, root, trust.minDelegationVersion ?? 0);
  const approvers = verifyThreshold(imageMessage(image.manifestBytes), image.signatures, delegation, 'image');
  const { manifest } = image;
  if (options.model !== undefined && manifest.model !== options.model) {
    throw new SihlError('MODEL_MISMATCH', `image is for model "${manifest.model}", not "${options.model}"`);
  }
  if (options.minSecurityVersion !== undefined && manifest.securityVersion < options.minSecurityVersion) {
    throw new SihlError(
      'SECURITY_VERSION_ROLLBACK',
      `image security version ${manifest.securityVersion} is below the device's ${options.minSecurityVersion}`,
    );
  }
  if (options.payload !== false) {
    await forEachPiece(source, image, options.readBytes ?? READ_STEP, async () => {});
  }
  return { ...image, approvers, root };
}

export async function digestRange(
  source: ByteSource,
  offset: number,
  length: number,
  readBytes = READ_STEP,
): Promise<Uint8Array> {
  const hash = new Sha256();
  const buffer = new Uint8Array(Math.min(readBytes, length));
  for (let done = 0; done < length; ) {
    const step = Math.min(readBytes, length - done);
    hash.update(await source.read(offset + done, step, buffer));
    done += step;
  }
  return hash.digest();
}
