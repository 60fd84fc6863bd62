// Approver signatures on an image (docs/FORMAT.md §Signatures). Each approver adds theirs in turn
// ("two persons need to sign off"); the image is rewritten atomically with the longer signature block.

import { equalBytes } from '../crypto/hash.ts';
import { keyIdOf, verify } from '../crypto/sign.ts';
import { asSigner, type SigningKey } from '../crypto/signer.ts';
import { SihlError } from '../errors.ts';
import { toHex } from '../format/bytes.ts';
import type { Delegation } from '../format/delegation.ts';
import { encodeHeader } from '../format/header.ts';
import { encodeSignatureBlock, type SignatureEntry } from '../format/signatures.ts';
import { writeAtomically } from '../fs.ts';
import { withFileSource } from './file-source.ts';
import { imageMessage, readImage } from './read.ts';
import { PositionalWriter } from './write.ts';

/**
 * Refuses a signer whose key the image's delegation does not name (its signature would make the image
 * invalid), or who already signed.
 */
export function checkSigners(
  delegation: Delegation,
  signers: readonly { readonly publicKey: Uint8Array }[],
  existing: readonly SignatureEntry[],
): void {
  const ids = existing.map((e) => e.keyId);
  for (const signer of signers) {
    const id = keyIdOf(signer.publicKey);
    if (!delegation.keys.some((key) => equalBytes(key, signer.publicKey))) {
      throw new SihlError(
        'SIGNATURE_UNKNOWN_KEY',
        `key ${toHex(id).slice(0, 16)}… is not an approver in the image's delegation (version ${delegation.version})`,
      );
    }
    if (ids.some((known) => equalBytes(known, id))) {
      throw new SihlError(
        'SIGNATURE_DUPLICATE_KEY',
        `key ${toHex(id).slice(0, 16)}… has already signed this image`,
      );
    }
    ids.push(id);
  }
}

export function signaturesFor(message: Uint8Array, signers: readonly SigningKey[]): SignatureEntry[] {
  return signers.map((key) => {
    const signer = asSigner(key);
    return { keyId: signer.keyId, signature: signer.sign(message) };
  });
}

export interface SignResult {
  readonly signatures: number;
  readonly threshold: number;
}

/** Adds signatures to the image at `path`, in place (through a temporary file and a rename). */
export async function signImage(path: string, signers: readonly SigningKey[]): Promise<SignResult> {
  return rewriteSignatures(path, (image) => {
    checkSigners(image.delegation.delegation, signers, image.signatures);
    return signaturesFor(imageMessage(image.manifestBytes), signers);
  });
}

/**
 * Adds signatures made elsewhere (an approver's approval file) to the image at `path`: each must be by a
 * key of the image's delegation that has not signed yet, and verify over the image message.
 */
export async function addImageSignatures(
  path: string,
  entries: readonly { readonly publicKey: Uint8Array; readonly signature: Uint8Array }[],
): Promise<SignResult> {
  return rewriteSignatures(path, (image) => {
    checkSigners(image.delegation.delegation, entries, image.signatures);
    const message = imageMessage(image.manifestBytes);
    return entries.map((e) => {
      if (!verify(e.publicKey, message, e.signature)) {
        throw new SihlError(
          'SIGNATURE_INVALID',
          `the signature by key ${toHex(keyIdOf(e.publicKey)).slice(0, 16)}… does not verify over this image`,
        );
      }
      return { keyId: keyIdOf(e.publicKey), signature: e.signature };
    });
  });
}

async function rewriteSignatures(
  path: string,
  more: (image: Awaited<ReturnType<typeof readImage>>) => SignatureEntry[],
): Promise<SignResult> {
  return withFileSource(path, async (source) => {
    const image = await readImage(source);
    const entries = [...image.signatures, ...more(image)];
    const block = encodeSignatureBlock(entries);
    const prefix = Buffer.concat([
      encodeHeader({ ...image.header, signatureBlockLength: block.length }),
      image.manifestBytes,
      image.delegationBytes,
      block,
      image.rootChainBytes,
    ]);
    await writeAtomically(path, { overwrite: true }, async (handle) => {
      const writer = new PositionalWriter(handle, 0);
      await writer.write(prefix);
      const step = 1024 * 1024;
      for (let done = 0; done < image.header.payloadLength; done += step) {
        await writer.write(
          await source.read(image.payloadOffset + done, Math.min(step, image.header.payloadLength - done)),
        );
      }
      await writer.flush();
    });
    return { signatures: entries.length, threshold: image.delegation.delegation.threshold };
  });
}
