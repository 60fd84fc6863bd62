// The approver's side of a sign-off (docs/WORKSPACE.md §Approvals): with nothing but a request file and
// their own key (a key file or a token), and no workspace, an approver signs the image the request names
// and writes an approval file for the release manager. docs/FORMAT.md §Approvals has both formats.
import { asSigner, equalBytes, type SigningKey, sha256 } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import {
  type Approval,
  type ApprovalRequest,
  approvalStatement,
  checkNote,
  decodeApprovalRequest,
  encodeApproval,
} from '../core/format/approval.ts';
import { toHex } from '../core/format/bytes.ts';
import { imageMessage, type ParsedImage } from '../core/image/index.ts';

/** A request file read and checked, with the SHA-256 of its bytes that the approval will name. */
export interface ReadRequest {
  readonly request: ApprovalRequest;
  readonly digest: Uint8Array;
}

export function readApprovalRequest(bytes: Uint8Array): ReadRequest {
  return { request: decodeApprovalRequest(bytes), digest: sha256(bytes) };
}

/**
 * Refuses an image (the one the approver reviewed) that is not the one the request names: another
 * manifest or another delegation. Signatures added since the request was made do not matter.
 */
export function checkReviewedImage(request: ApprovalRequest, image: ParsedImage): void {
  if (!equalBytes(image.manifestBytes, request.manifestBytes)) {
    throw new SihlError(
      'APPROVAL_MISMATCH',
      `the image is ${image.manifest.model} ${image.manifest.version} with another manifest than the request's ` +
        `${request.release} (payload ${toHex(image.manifest.payloadDigest).slice(0, 16)}…, requested ` +
        `${toHex(request.manifest.payloadDigest).slice(0, 16)}…)`,
    );
  }
  if (!equalBytes(sha256(image.delegationBytes), request.delegationSha256)) {
    throw new SihlError(
      'APPROVAL_MISMATCH',
      `the image carries delegation version ${image.delegation.delegation.version}; the request names version ${request.delegationVersion}`,
    );
  }
}

/** Signs a request with one approver key: the image message, and the statement of who, when and why. */
export function signApprovalRequest(
  read: ReadRequest,
  key: SigningKey,
  options: { readonly note?: string; readonly now?: () => Date } = {},
): { approval: Approval; file: string } {
  const { request, digest } = read;
  const note = checkNote(options.note ?? '');
  const approved = (options.now ?? (() => new Date()))().toISOString();
  const signer = asSigner(key);
  const m = request.manifest;
  const approval: Approval = {
    request: digest,
    release: request.release,
    model: m.model,
    firmwareVersion: m.version,
    securityVersion: m.securityVersion,
    payloadDigest: m.payloadDigest,
    publicKey: signer.publicKey,
    keyId: signer.keyId,
    signature: signer.sign(imageMessage(request.manifestBytes)),
    statement: signer.sign(approvalStatement(digest, request.manifestBytes, approved, note)),
    note,
    approved,
  };
  return { approval, file: encodeApproval(approval) };
}
