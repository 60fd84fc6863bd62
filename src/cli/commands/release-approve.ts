// sihl release approve: an approver signs off a release where they are. With --request, nothing but the
// request file and the approver's own key (a key file or a token key), and no workspace; with RELEASE,
// an approver whose key is in the workspace signs there. One approver key per process.
import { basename } from 'node:path';
import { closeSigners, type SigningKey } from '../../core/crypto/index.ts';
import { naming, SihlError } from '../../core/errors.ts';
import { checkNote } from '../../core/format/approval.ts';
import { toHex } from '../../core/format/bytes.ts';
import { NAME_PATTERN } from '../../core/format/target.ts';
import { exists, readPrivateKeyFile, readSmallFile, writeFileAtomic } from '../../core/fs.ts';
import { readImage, withFileSource } from '../../core/image/index.ts';
import { openSigningKey, privateKeyInfo } from '../../core/keys.ts';
import { LIMITS } from '../../core/limits.ts';
import { parsePkcs11Reference } from '../../core/token/pkcs11-uri.ts';
import {
  checkReviewedImage,
  type ReadRequest,
  readApprovalRequest,
  signApprovalRequest,
} from '../../publisher/approve-request.ts';
import { approveRelease } from '../../publisher/release.ts';
import {
  type Command,
  type Context,
  optionalString,
  requireString,
  strings,
  type Values,
} from '../command.ts';
import { pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { keyPassphrase, ownPassphrase, passphraseFor } from '../passphrase.ts';
import { isPkcs11Reference, openTokenKey } from '../tokens.ts';
import { findRelease } from './release.ts';
import { workspaceOption } from './workspace.ts';

const force = { type: 'boolean', help: 'replace an existing output file' } as const;
/** What an approver is shown before they unlock their key, and after they signed. */
function summaryOf(read: ReadRequest): string {
  const m = read.request.manifest;
  return (
    `${m.model} ${m.version}${m.downgrade ? ' (a downgrade)' : ''}, security version ${m.securityVersion}, ` +
    `payload sha256 ${toHex(m.payloadDigest)}`
  );
}

/** One approver key: a key file anywhere (its own passphrase variable, else a prompt) or a token key. */
async function openApproverKey(context: Context, text: string, read: ReadRequest): Promise<SigningKey> {
  if (isPkcs11Reference(text)) return openTokenKey(context, text);
  const path = pathIn(context, text);
  try {
    const bytes = await readPrivateKeyFile(path, LIMITS.keyFileBytes);
    const { name, kind } = privateKeyInfo(bytes);
    if (kind !== 'signing')
      throw new SihlError('KEY_WRONG_KIND', `expected a signing key, found a ${kind} key`);
    const passphrase =
      (await ownPassphrase(context, name)) ??
      (await passphraseFor(context, `for key ${name}, to approve ${summaryOf(read)}`));
    return await openSigningKey(bytes, passphrase);
  } catch (error) {
    throw naming(path, error);
  }
}

function keyLabel(text: string): string {
  return isPkcs11Reference(text) ? parsePkcs11Reference(text).object : basename(text).replace(/\.key$/, '');
}

interface SignedResult {
  approval: string;
  release: string;
  model: string;
  version: string;
  securityVersion: number;
  downgrade: boolean;
  payloadDigest: string;
  keyId: string;
  note: string;
  approved: string;
  imageChecked: boolean;
}

/** `release approve --request FILE --key KEY`: the approver's side, with no workspace. */
async function approveRequest(
  values: Values,
  positionals: string[],
  context: Context,
): Promise<SignedResult> {
  if (positionals.length > 0)
    throw new SihlError('USAGE', 'with --request, give no RELEASE: the request names the release');
  const keys = strings(values, 'key');
  if (keys.length === 0)
    throw new SihlError('USAGE', '--key is required (a key file or a pkcs11: reference)');
  if (keys.length > 1) {
    throw new SihlError(
      'USAGE',
      '--key was given more than once: one approver key per process; each approver runs `sihl release approve` with their own',
    );
  }
  const keyText = keys[0] as string;
  const requestPath = pathIn(context, requireString(values, 'request'));
  const bytes = await readSmallFile(requestPath, LIMITS.approvalRequestBytes);
  let read: ReadRequest;
  try {
    read = readApprovalRequest(bytes);
  } catch (error) {
    throw naming(requestPath, error);
  }
  const imagePath = optionalString(values, 'image');
  if (imagePath !== undefined) {
    const path = pathIn(context, imagePath);
    await withFileSource(path, async (source) =>
      checkReviewedImage(read.request, await readImage(source)),
    ).catch((error) => Promise.reject(naming(path, error)));
  }
  const note = checkNote(optionalString(values, 'note') ?? '');
  const out = pathIn(
    context,
    optionalString(values, 'out') ?? `${read.request.release}.${keyLabel(keyText)}.approval.json`,
  );
  if (values.force !== true && (await exists(out))) {
    throw new SihlError('FILE_EXISTS', 'file already exists; choose another name or pass --force', {
      subject: out,
    });
  }
  const key = await openApproverKey(context, keyText, read);
  try {
    const { approval, file } = signApprovalRequest(read, key, { note });
    await writeFileAtomic(out, file, { overwrite: values.force === true });
    const m = read.request.manifest;
    return {
      approval: out,
      release: read.request.release,
      model: m.model,
      version: m.version,
      securityVersion: m.securityVersion,
      downgrade: m.downgrade === true,
      payloadDigest: toHex(m.payloadDigest),
      keyId: toHex(approval.keyId),
      note,
      approved: approval.approved,
      imageChecked: imagePath !== undefined,
    };
  } finally {
    closeSigners([key]);
  }
}

interface WorkspaceResult {
  release: string;
  approver: string;
  signatures: number;
  threshold: number;
}

export const releaseApprove: Command<SignedResult | WorkspaceResult> = {
  path: ['release', 'approve'],
  summary: "Sign off a release with one approver's own key, where the approver is.",
  usage:
    'release approve --request FILE --key KEY [--image IMAGE] [--note TEXT] [--out FILE]\n' +
    '       sihl release approve RELEASE --key NAME [--note TEXT] [--workspace DIR]',
  details: prose`
    With --request (from \`sihl release request\`), no workspace is needed: KEY is the approver's key file
    (its passphrase from SIHL_PASSPHRASE_<NAME>, SIHL_PASSPHRASE_FILE_<NAME> or a prompt) or a pkcs11:
    reference to a key on a token. The command shows what is signed (model, version, security version,
    payload digest) and writes an approval file to hand to the release manager. --image checks that the
    image you reviewed is the one the request names. One key per process: --key is taken once.
    With RELEASE, an approver whose key is in the workspace's keys/ signs it there.
  `,
  options: {
    ...optionLines(`
      --request FILE  the approval request to sign (no workspace needed)
    `),
    key: {
      type: 'string',
      once: true,
      value: 'KEY',
      help: 'your key file or pkcs11: reference; with RELEASE, your key name in the workspace',
    },
    ...optionLines(`
      --image IMAGE  the image you reviewed: refuse unless the request names it
      --note TEXT    kept with the approval, e.g. the review you took part in
      --out FILE     approval file to write (default RELEASE.KEY.approval.json)
    `),
    force,
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    if (values.request !== undefined) return approveRequest(values, positionals, context);
    const { workspace, release } = await findRelease(values, positionals, context);
    const names = strings(values, 'key');
    if (names.length !== 1) throw new SihlError('USAGE', 'give --key NAME once: one approver per process');
    const name = names[0] as string;
    if (!NAME_PATTERN.test(name)) throw new SihlError('USAGE', '--key is a key name, not a path');
    const note = optionalString(values, 'note');
    const result = await approveRelease(workspace, release, name, (key) => keyPassphrase(context, key), {
      ...(note === undefined ? {} : { note }),
    });
    return {
      release: release.dir,
      approver: name,
      signatures: result.signatures,
      threshold: result.threshold,
    };
  },
  render: (r) =>
    'approval' in r
      ? `signed ${r.release}: ${r.model} ${r.version}${r.downgrade ? ' (a downgrade)' : ''}, security version ` +
        `${r.securityVersion}, payload sha256 ${r.payloadDigest}\nwith key ${r.keyId.slice(0, 16)}…` +
        `${r.imageChecked ? ', the image checked against the request' : ''}\n` +
        `wrote ${r.approval}: hand it to the release manager (sihl release add-approval)`
      : `${r.approver} approved ${r.release}: ${r.signatures} of ${r.threshold} approvals` +
        (r.signatures >= r.threshold ? '' : ` (${r.threshold - r.signatures} more needed)`),
};
