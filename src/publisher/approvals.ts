// The release manager's side of a sign-off (docs/WORKSPACE.md §Approvals): `release request` writes what
// approvers are asked to sign; `release add-approval` checks each approval file made where an approver is
// against the current approvers and this release, adds the signatures to the image and records who
// approved, when and why in release.json. All files are checked before anything is written.
import { stat } from 'node:fs/promises';
import { equalBytes, keyIdOf, sha256, verify } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import {
  type Approval,
  type ApprovalRequest,
  approvalStatement,
  decodeApproval,
  encodeApprovalRequest,
} from '../core/format/approval.ts';
import { toHex } from '../core/format/bytes.ts';
import {
  addImageSignatures,
  digestRange,
  imageMessage,
  type ParsedImage,
  readImage,
  withFileSource,
} from '../core/image/index.ts';
import type { ApprovalRecord, Release } from './release.ts';
import { releaseName, saveReleaseInfo } from './release.ts';
import { namedKeys } from './role-keys.ts';
import type { Workspace } from './workspace.ts';

type Now = () => Date;
const clock = (now?: Now) => (now ?? (() => new Date()))();
const short = (bytes: Uint8Array) => `${toHex(bytes).slice(0, 16)}…`;
const mismatch = (message: string) => new SihlError('APPROVAL_MISMATCH', message);

/**
 * Makes an approval request for the release's image and records its digest in release.json. Refuses a
 * release whose image carries an older delegation than the workspace's: no approval could count.
 */
export async function requestApproval(
  workspace: Workspace,
  release: Release,
  options: { readonly now?: Now } = {},
): Promise<{ request: ApprovalRequest; file: string; sha256: string; release: Release }> {
  const { image, imageSha256 } = await withFileSource(release.imagePath, async (source) => ({
    image: await readImage(source),
    imageSha256: await digestRange(source, 0, source.size),
  }));
  const carried = image.delegation.delegation.version;
  if (carried !== workspace.config.delegationVersion) {
    throw mismatch(
      `${releaseName(release.info)} carries delegation version ${carried}; the approvers changed since (version ${workspace.config.delegationVersion}): create the release again`,
    );
  }
  const request: ApprovalRequest = {
    release: releaseName(release.info),
    manifestBytes: image.manifestBytes,
    manifest: image.manifest,
    delegationVersion: image.delegation.delegation.version,
    delegationSha256: sha256(image.delegationBytes),
    imageSha256,
    imageSize: (await stat(release.imagePath)).size,
    requested: clock(options.now).toISOString(),
  };
  const file = encodeApprovalRequest(request);
  const digest = toHex(sha256(new TextEncoder().encode(file)));
  const record = {
    sha256: digest,
    requested: request.requested,
    delegationVersion: request.delegationVersion,
  };
  const saved = await saveReleaseInfo(release, {
    ...release.info,
    requests: [...(release.info.requests ?? []), record],
  });
  return { request, file, sha256: digest, release: saved };
}

interface Approver {
  readonly name: string;
  readonly key: Uint8Array;
  readonly id: Uint8Array;
}

async function currentApprovers(workspace: Workspace): Promise<Approver[]> {
  const keys = await namedKeys(workspace, workspace.config.roles.targets);
  return keys.map(({ name, publicKey }) => ({ name, key: publicKey, id: keyIdOf(publicKey) }));
}

/** Whether the approver's key is one the image's delegation names: only those count on a device. */
function delegated(image: ParsedImage, approver: Approver): boolean {
  return image.delegation.delegation.keys.some((key) => equalBytes(key, approver.key));
}

/** Which release, which request, which image: refuses an approval made for anything else. */
function checkTarget(workspace: Workspace, release: Release, image: ParsedImage, a: Approval): void {
  const name = releaseName(release.info);
  if (
    a.release !== name ||
    a.model !== release.info.model ||
    a.firmwareVersion !== release.info.firmwareVersion
  ) {
    throw mismatch(`this approval is for ${a.release}, not for ${name}`);
  }
  const request = (release.info.requests ?? []).find((r) => r.sha256 === toHex(a.request));
  if (!request) {
    throw mismatch(
      `it answers request ${short(a.request)}, which ${name} never made (or which was changed on its way to the approver); make one with \`sihl release request ${name}\``,
    );
  }
  const imageVersion = image.delegation.delegation.version;
  if (request.delegationVersion !== imageVersion || imageVersion !== workspace.config.delegationVersion) {
    throw mismatch(
      `the approvers changed since the request was made (delegation version ${request.delegationVersion}, the image's ${imageVersion}, the workspace's ${workspace.config.delegationVersion}): create the release again`,
    );
  }
  const m = image.manifest;
  if (!equalBytes(a.payloadDigest, m.payloadDigest) || a.securityVersion !== m.securityVersion) {
    throw mismatch(
      `it approves another image of ${name} (payload ${short(a.payloadDigest)}, this one ${short(m.payloadDigest)})`,
    );
  }
}

/** Whose key, and do both signatures hold: refuses unknown keys, forged or changed approvals. */
function checkSigned(approvers: readonly Approver[], image: ParsedImage, a: Approval): Approver {
  const approver = approvers.find((x) => equalBytes(x.id, a.keyId));
  if (!approver) {
    throw new SihlError(
      'SIGNATURE_UNKNOWN_KEY',
      `it is signed by key ${short(a.keyId)}, which is not an approver of this workspace (sihl.json roles.targets)`,
    );
  }
  if (!verify(approver.key, imageMessage(image.manifestBytes), a.signature)) {
    throw new SihlError(
      'SIGNATURE_INVALID',
      `${approver.name}'s signature does not verify over this release's image`,
    );
  }
  if (
    !verify(approver.key, approvalStatement(a.request, image.manifestBytes, a.approved, a.note), a.statement)
  ) {
    throw new SihlError(
      'SIGNATURE_INVALID',
      `the request, time or note of ${approver.name}'s approval changed after it was signed`,
    );
  }
  return approver;
}

export interface AddedApprovals {
  readonly release: Release;
  readonly added: readonly ApprovalRecord[];
  readonly signatures: number;
  readonly threshold: number;
}

/** Checks every approval file, then adds their signatures to the image and records them. */
export async function addApprovals(
  workspace: Workspace,
  release: Release,
  files: readonly { readonly path: string; readonly bytes: Uint8Array }[],
  options: { readonly now?: Now } = {},
): Promise<AddedApprovals> {
  if (files.length === 0) throw new SihlError('USAGE', 'give at least one approval file (--approval FILE)');
  const image = await withFileSource(release.imagePath, readImage);
  const approvers = await currentApprovers(workspace);
  const signed = image.signatures.map((s) => s.keyId);
  const added: ApprovalRecord[] = [];
  const entries: { publicKey: Uint8Array; signature: Uint8Array }[] = [];
  const now = clock(options.now).toISOString();
  for (const { path, bytes } of files) {
    try {
      const approval = decodeApproval(bytes);
      checkTarget(workspace, release, image, approval);
      const approver = checkSigned(approvers, image, approval);
      if (!delegated(image, approver)) {
        throw new SihlError(
          'SIGNATURE_UNKNOWN_KEY',
          `${approver.name}'s key is not in the delegation the image carries (version ${image.delegation.delegation.version}, signed by root), so no device would count it: approvers are added with \`sihl keys add\`, which root signs`,
        );
      }
      if (signed.some((id) => equalBytes(id, approver.id))) {
        throw new SihlError(
          'SIGNATURE_DUPLICATE_KEY',
          `${approver.name} has already approved ${releaseName(release.info)}`,
        );
      }
      signed.push(approver.id);
      entries.push({ publicKey: approver.key, signature: approval.signature });
      added.push({
        approver: approver.name,
        keyId: toHex(approver.id),
        approved: approval.approved,
        note: approval.note,
        via: 'approval-file',
        request: toHex(approval.request),
        added: now,
      });
    } catch (error) {
      throw naming(path, error);
    }
  }
  const result = await addImageSignatures(release.imagePath, entries);
  const saved = await saveReleaseInfo(release, {
    ...release.info,
    approvals: [...(release.info.approvals ?? []), ...added],
  });
  return { release: saved, added, ...result };
}

export interface ReleaseApprovals {
  readonly threshold: number;
  /** Current approvers whose signature in the image verifies: what the release counts. */
  readonly counted: number;
  /** Recorded approvals whose signature is in the image, one per approver, under the key's own name. */
  readonly approvals: readonly ApprovalRecord[];
  /** Signatures in the image with no record (added with `sihl image sign`), by key id and approver name. */
  readonly unrecorded: readonly { readonly keyId: string; readonly approver: string | null }[];
}

/**
 * Who approved the release: the image's signatures by approvers its delegation names that verify, and
 * release.json's record of each.
 * A record counts only for the approver whose key it names, once, and only when that key's signature
 * is in the image: records edited into release.json add nothing.
 */
export async function releaseApprovals(workspace: Workspace, release: Release): Promise<ReleaseApprovals> {
  const image = await withFileSource(release.imagePath, readImage);
  const approvers = await currentApprovers(workspace);
  const message = imageMessage(image.manifestBytes);
  const ids = image.signatures.map((s) => toHex(s.keyId));
  const valid = new Set(
    image.signatures
      .filter((s) =>
        approvers.some(
          (a) => equalBytes(a.id, s.keyId) && delegated(image, a) && verify(a.key, message, s.signature),
        ),
      )
      .map((s) => toHex(s.keyId)),
  );
  const recorded: ApprovalRecord[] = [];
  for (const record of release.info.approvals ?? []) {
    const owner = approvers.find((a) => toHex(a.id) === record.keyId);
    if (!valid.has(record.keyId) || owner?.name !== record.approver) continue;
    if (!recorded.some((r) => r.keyId === record.keyId)) recorded.push(record);
  }
  const unrecorded = ids
    .filter((id) => !recorded.some((a) => a.keyId === id))
    .map((keyId) => ({
      keyId,
      approver: valid.has(keyId) ? (approvers.find((a) => toHex(a.id) === keyId)?.name ?? null) : null,
    }));
  return {
    threshold: workspace.config.roles.targets.threshold,
    counted: valid.size,
    approvals: recorded,
    unrecorded,
  };
}
