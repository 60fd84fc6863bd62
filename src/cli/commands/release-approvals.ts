// sihl release request | add-approval | show: the release manager's side of a sign-off. The request says
// what each approver signs where they are (release-approve.ts); the approval files they send back are
// checked and added; `release show` lists who approved, when and why.
import { basename } from 'node:path';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { exists, readSmallFile, writeFileAtomic } from '../../core/fs.ts';
import { LIMITS } from '../../core/limits.ts';
import { addApprovals, releaseApprovals, requestApproval } from '../../publisher/approvals.ts';
import { type ApprovalRecord, releaseName } from '../../publisher/release.ts';
import { type Command, optionalString, strings } from '../command.ts';
import { pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { findRelease, type ReleaseFacts, releaseFacts } from './release.ts';
import { workspaceOption } from './workspace.ts';

const force = { type: 'boolean', help: 'replace an existing output file' } as const;

export const releaseRequest: Command<{
  release: string;
  request: string;
  sha256: string;
  model: string;
  version: string;
  securityVersion: number;
  payloadDigest: string;
}> = {
  path: ['release', 'request'],
  summary: 'Write the approval request that each approver signs where they are, with their own key.',
  usage: 'release request RELEASE [--out FILE] [--force] [--workspace DIR]',
  details: prose`
    The request holds the image's manifest (exactly what approvers sign) and a summary to check it by:
    model, version, security version, downgrade flag, payload digest and size, delegation version, the
    image's SHA-256, and when it was made. Its digest is recorded in release.json; approvals are accepted
    only for requests recorded there. Hand it (and the image, to review) to each approver, who runs
    \`sihl release approve --request FILE --key KEY\`, then add their files with \`sihl release add-approval\`.
  `,
  options: {
    ...optionLines(`
      --out FILE  where to write it (default RELEASE.request.json)
    `),
    force,
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    const { workspace, release } = await findRelease(values, positionals, context);
    const out = pathIn(context, optionalString(values, 'out') ?? `${releaseName(release.info)}.request.json`);
    if (values.force !== true && (await exists(out))) {
      throw new SihlError('FILE_EXISTS', 'file already exists; choose another name or pass --force', {
        subject: out,
      });
    }
    const made = await requestApproval(workspace, release);
    await writeFileAtomic(out, made.file, { overwrite: values.force === true });
    const m = made.request.manifest;
    return {
      release: release.dir,
      request: out,
      sha256: made.sha256,
      model: m.model,
      version: m.version,
      securityVersion: m.securityVersion,
      payloadDigest: toHex(m.payloadDigest),
    };
  },
  render: (r) =>
    `wrote ${r.request}: approval request for ${r.model} ${r.version} (security version ${r.securityVersion}, ` +
    `payload ${r.payloadDigest.slice(0, 16)}…)\neach approver runs: sihl release approve --request ${basename(r.request)} --key KEY`,
};

const renderApproval = (a: ApprovalRecord) =>
  `${a.approver} (key ${a.keyId.slice(0, 16)}…) approved at ${a.approved}` +
  `${a.via === 'approval-file' ? ' from an approval file' : ' with a workspace key'}` +
  (a.note ? `: ${JSON.stringify(a.note)}` : '');

export const releaseAddApproval: Command<{
  release: string;
  added: ApprovalRecord[];
  signatures: number;
  threshold: number;
}> = {
  path: ['release', 'add-approval'],
  summary: "Add approvers' approval files to a release: each checked, its signature added to the image.",
  usage: 'release add-approval RELEASE --approval FILE [--approval FILE ...] [--workspace DIR]',
  details: prose`
    Each file must answer a request made for this release (\`sihl release request\`), be signed by a
    current approver (sihl.json roles.targets, keys/NAME.pub) over this release's image, and come from an
    approver who has not approved it yet. Any refused file leaves the release unchanged. Who approved,
    when and their note are kept in release.json and shown by \`sihl release show\`.
  `,
  options: {
    ...optionLines(`
      --approval FILE...  an approval file
    `),
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    const { workspace, release } = await findRelease(values, positionals, context);
    const files = [];
    for (const file of strings(values, 'approval')) {
      const path = pathIn(context, file);
      files.push({ path, bytes: await readSmallFile(path, LIMITS.approvalBytes) });
    }
    const result = await addApprovals(workspace, release, files);
    return {
      release: release.dir,
      added: [...result.added],
      signatures: result.signatures,
      threshold: result.threshold,
    };
  },
  render: (r) =>
    [
      ...r.added.map((a) => `added: ${renderApproval(a)}`),
      `${r.release}: ${r.signatures} of ${r.threshold} approvals` +
        (r.signatures >= r.threshold ? '' : ` (${r.threshold - r.signatures} more needed)`),
    ].join('\n'),
};

interface ShowResult extends ReleaseFacts {
  created: string;
  releaseId: string;
  threshold: number;
  /** Current approvers whose signature in the image verifies. */
  counted: number;
  approvals: ApprovalRecord[];
  unrecorded: { keyId: string; approver: string | null }[];
  requests: { sha256: string; requested: string }[];
}

export const releaseShow: Command<ShowResult> = {
  path: ['release', 'show'],
  summary: 'Show a release: what it is, the approval requests made, and who approved it, when and why.',
  usage: 'release show RELEASE [--workspace DIR] [--json]',
  options: { ...workspaceOption },
  async run(values, positionals, context) {
    const { workspace, release } = await findRelease(values, positionals, context);
    const status = await releaseApprovals(workspace, release);
    const { info } = release;
    return {
      ...releaseFacts(release),
      created: info.created,
      releaseId: info.releaseId,
      threshold: status.threshold,
      counted: status.counted,
      approvals: [...status.approvals],
      unrecorded: [...status.unrecorded],
      requests: (info.requests ?? []).map((r) => ({ sha256: r.sha256, requested: r.requested })),
    };
  },
  render: (r) =>
    [
      `${r.model} ${r.version} (security version ${r.securityVersion}, ${r.encrypted ? 'encrypted' : 'signed only'}, ` +
        `delegation version ${r.delegationVersion}), created ${r.created}, in ${r.release}`,
      ...r.requests.map((q) => `approval requested at ${q.requested} (request ${q.sha256.slice(0, 16)}…)`),
      `${r.counted} of ${r.threshold} approvals`,
      ...r.approvals.map((a) => `  ${renderApproval(a)}`),
      ...r.unrecorded.map(
        (u) =>
          `  ${u.approver ?? 'a key that is not a current approver, or a signature that does not verify'} (key ${u.keyId.slice(0, 16)}…): signed with no record`,
      ),
    ].join('\n'),
};
