// The check before anything is marked pending: the staged image is verified as the bootloader will
// verify it (docs/FORMAT.md §Verification: root chain, delegation, approvers' threshold, model,
// anti-rollback counter, version above the running one, payload digest), from the device's own pinned
// trust, and its envelope is checked to belong to it. Every decision that matters is taken on the signed
// manifest, never on the target's custom fields, which only the online rollout key signs. A tampered,
// foreign or older image never reaches the bootloader; the digest of its manifest is what the pending
// record binds the bootloader to.
import { equalBytes, sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { decodeEnvelope, ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { streamBinding } from '../../core/format/manifest.ts';
import { checkVersionRises } from '../../core/format/semver.ts';
import type { ByteSource } from '../../core/image/source.ts';
import { verifyImage } from '../../core/image/verify.ts';
import type { AgentDevice } from './staging.ts';

export interface VerifiedStaged {
  /** SHA-256 of the verified manifest: what the pending record binds the bootloader to. */
  readonly manifestDigest: Uint8Array;
  readonly manifestBytes: Uint8Array;
  readonly encrypted: boolean;
}

/**
 * The staged image's own verification. Its bytes matched the SHA-256 the targets role signed, so a
 * refusal here is a refusal of the target itself; the envelope, which no key signs for the target, is
 * checked apart (`checkEnvelopeFits`).
 */
export async function verifyStaged(
  device: AgentDevice,
  length: number,
  expected: { readonly version: string; readonly running: string },
): Promise<VerifiedStaged> {
  const source: ByteSource = {
    size: length,
    read: async (offset, bytes) => {
      if (offset < 0 || offset + bytes > length)
        throw new SihlError('IMAGE_TRUNCATED', 'read past the staged image');
      return device.readStaging(offset, bytes);
    },
  };
  const trust = device.secureElement.trust();
  const image = await verifyImage(
    source,
    { root: trust.root, rootVersion: trust.rootVersion, minDelegationVersion: trust.delegationVersion },
    {
      model: device.model,
      minSecurityVersion: trust.securityCounter,
      readBytes: device.stagingGeometry.sectorSize,
    },
  );
  checkVersionRises(image.manifest, expected.running);
  // The targets role and the signed manifest must agree, or the agent would fetch the same image forever.
  if (image.manifest.version !== expected.version) {
    throw new SihlError(
      'MANIFEST_INCONSISTENT',
      `the image is version ${image.manifest.version}; the targets metadata says ${expected.version}`,
    );
  }
  return {
    manifestDigest: sha256(image.manifestBytes),
    manifestBytes: image.manifestBytes,
    encrypted: image.manifest.encryption.algorithm !== 'none',
  };
}

/**
 * The envelope staged after a verified image must be for it. Its bytes come from the envelope tables,
 * which the serving path delivers unauthenticated (any mirror can garble them): a refusal here says
 * nothing about the target.
 */
export function checkEnvelopeFits(image: VerifiedStaged, envelope: Uint8Array): void {
  if (!image.encrypted) return;
  if (envelope.length !== ENVELOPE_BYTES)
    throw new SihlError('ENVELOPE_REQUIRED', 'no key envelope for this image');
  if (!equalBytes(decodeEnvelope(envelope).binding, streamBinding(image.manifestBytes))) {
    throw new SihlError('ENVELOPE_WRONG_IMAGE', 'the key envelope belongs to another image');
  }
}
