// The image-verifies rule of the gate: the release's image.sihl checked as a device of its model would
// check it (docs/FORMAT.md §Verification), against the root keys the workspace gives devices, then
// unpacked in full. Unlike a device it goes on after a failed step, so one run names every problem.

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { equalBytes, wipe } from '../core/crypto/index.ts';
import type { SihlError } from '../core/errors.ts';
import { verifyDelegation } from '../core/format/delegation.ts';
import { streamBinding } from '../core/format/manifest.ts';
import { verifyRootChain } from '../core/format/root-chain.ts';
import { verifyThreshold } from '../core/format/signatures.ts';
import { forEachPiece } from '../core/image/chain-read.ts';
import {
  type ByteSink,
  imageMessage,
  type ParsedImage,
  readImage,
  unpackPayload,
  type VerifiedImage,
  withFileSource,
} from '../core/image/index.ts';
import { decodeRootFile } from '../core/keys.ts';
import type { ContentKeySource } from './content-key.ts';
import type { Release } from './release.ts';
import type { Workspace } from './workspace.ts';

export interface ImageCheck {
  /** Everything a device would refuse, in the order a device checks. */
  readonly problems: readonly string[];
  /** Why the payload was not unpacked, when it was not (an encrypted image without its content key). */
  readonly notDecoded?: string;
}

export interface ImageCheckOptions {
  /** The release's content key (a copy this check wipes), asked for only for an encrypted image. */
  readonly contentKey?: ContentKeySource;
  /** Where the unpacked firmware goes (for the vendor's checks); otherwise it is only hashed. */
  readonly firmwareOut?: string;
}

const PAYLOAD_READ_BYTES = 256 * 1024;

const refusal = (step: string, error: unknown) => {
  const e = error as SihlError;
  return `${step}: ${e.message}${e.code ? ` [${e.code}]` : ''}`;
};

export async function checkReleaseImage(
  workspace: Workspace,
  release: Release,
  options: ImageCheckOptions = {},
): Promise<ImageCheck> {
  const root = decodeRootFile(new Uint8Array(await readFile(workspace.rootTrustPath)));
  return withFileSource(release.imagePath, async (source) => {
    let image: ParsedImage;
    try {
      image = await readImage(source);
    } catch (error) {
      return { problems: [refusal('the image does not parse', error)] };
    }
    const problems: string[] = [];
    // FORMAT.md §Verification, steps 1–3: root chain, delegation, approvers' threshold over the manifest.
    try {
      const newest = verifyRootChain(image.rootChain, root);
      const delegation = verifyDelegation(image.delegation, newest, workspace.config.delegationVersion);
      verifyThreshold(imageMessage(image.manifestBytes), image.signatures, delegation, 'image');
    } catch (error) {
      problems.push(refusal('devices would refuse its signatures', error));
    }
    if (image.manifest.model !== release.info.model) {
      problems.push(
        `the image is for model "${image.manifest.model}", the release for "${release.info.model}"`,
      );
    }
    // FORMAT.md §Verification, step 6: the payload's chunk chain from the digest the approvers signed.
    const { manifest } = image;
    try {
      await forEachPiece(source, image, PAYLOAD_READ_BYTES, async () => {});
    } catch (error) {
      problems.push(
        `${refusal('the payload does not match what its approvers signed', error)}: ` +
          'image.sihl changed after it was made; create the release again',
      );
      return { problems };
    }
    const verified: VerifiedImage = { ...image, approvers: [], root };
    let key: Uint8Array | null = null;
    if (manifest.encryption.algorithm !== 'none') {
      if (!options.contentKey) {
        return {
          problems,
          notDecoded: 'the image is encrypted and no passphrase for its content key was given',
        };
      }
      const opened = await options.contentKey();
      if (!equalBytes(opened.binding, streamBinding(image.manifestBytes))) {
        wipe(opened.key);
        problems.push('content.key belongs to another image [ENVELOPE_WRONG_IMAGE]');
        return { problems };
      }
      key = opened.key;
    }
    // FORMAT.md §Unpacking: decrypt, decompress and unfilter to the signed plaintext digest.
    try {
      await unpackTo(source, verified, key, options.firmwareOut);
    } catch (error) {
      problems.push(refusal('the payload does not unpack', error));
    } finally {
      if (key) wipe(key);
    }
    return { problems };
  });
}

async function unpackTo(
  source: Parameters<typeof unpackPayload>[0],
  image: VerifiedImage,
  key: Uint8Array | null,
  path: string | undefined,
): Promise<void> {
  if (path === undefined) {
    const discard: ByteSink = { write: async () => {} };
    return unpackPayload(source, image, key, discard);
  }
  const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  const sink: ByteSink = {
    write: async (chunk) => {
      if (!out.write(Buffer.from(chunk))) await once(out, 'drain');
    },
  };
  try {
    await unpackPayload(source, image, key, sink);
  } finally {
    out.end();
    await once(out, 'close');
  }
}
