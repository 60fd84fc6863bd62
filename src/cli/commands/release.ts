// sihl release create | check | publish: a release folder in the workspace, the policy gate, and
// publication into the store (sign-offs: release-approvals.ts).
import { join } from 'node:path';
import { releaseApprovals } from '../../publisher/approvals.ts';
import { ContentKeyOnce } from '../../publisher/content-key.ts';
import { requirePolicy } from '../../publisher/gate.ts';
import { refuseOfflineKeys } from '../../publisher/online-keys.ts';
import { POLICY_RULES } from '../../publisher/policy.ts';
import { publishRelease } from '../../publisher/publish-release.ts';
import { type ApprovalRecord, createRelease, openRelease, type Release } from '../../publisher/release.ts';
import { refreshTimestamp } from '../../publisher/timestamp.ts';
import {
  type Command,
  type Context,
  integer,
  onePositional,
  optionalString,
  requireString,
  type Values,
} from '../command.ts';
import { pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { keyPassphrase } from '../passphrase.ts';
import { renderPushed, storeChoice, storeOption } from './store-option.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

/** A release is named by its folder, or by MODEL-VERSION inside the workspace's releases/. */
export async function findRelease(values: Values, positionals: string[], context: Context) {
  const workspace = await openWorkspace(values, context);
  const name = onePositional(positionals, 'RELEASE');
  const dir = name.includes('/') ? pathIn(context, name) : join(workspace.dir, 'releases', name);
  return { workspace, release: await openRelease(dir) };
}

/** What `release create` and `release show` say of a release: its folder and what it was made as. */
export interface ReleaseFacts {
  release: string;
  model: string;
  version: string;
  securityVersion: number;
  encrypted: boolean;
  delegationVersion: number;
}

export function releaseFacts(release: Release): ReleaseFacts {
  const { info } = release;
  return {
    release: release.dir,
    model: info.model,
    version: info.firmwareVersion,
    securityVersion: info.securityVersion,
    encrypted: info.encrypted,
    delegationVersion: info.delegationVersion,
  };
}

interface ReleaseCheckResult {
  release: string;
  ok: true;
  passed: readonly string[];
  notChecked: readonly { rule: string; why: string }[];
  checks: readonly { name: string; status: string; log: string }[];
  /** Who approved, when and why (release.json), for the signatures the image carries. */
  approvals: readonly ApprovalRecord[];
}

export const releaseCreate: Command<ReleaseFacts> = {
  path: ['release', 'create'],
  summary: 'Pack firmware into a new release: compressed, encrypted, carrying the current delegation.',
  usage:
    'release create FIRMWARE --model M --version V [--security-version N] [--no-encrypt] [--workspace DIR]',
  details: prose`
    The release is releases/M-V/ in the workspace. Next, \`sihl release request\` writes what each approver
    signs with \`sihl release approve --request\`, wherever they are.
  `,
  options: {
    ...optionLines(`
      --model M             device model
      --version V           firmware version (semantic versioning, e.g. 7.28.0)
      --security-version N  anti-rollback counter value (default 0)
      --no-encrypt          signed only, without confidentiality
    `),
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    const workspace = await openWorkspace(values, context);
    const firmware = pathIn(context, onePositional(positionals, 'FIRMWARE'));
    const encrypt = values['no-encrypt'] !== true;
    const model = requireString(values, 'model');
    const version = requireString(values, 'version');
    // The content key's own secret (SIHL_PASSPHRASE_MOVEHUB_7_28_0_CONTENT_KEY), as publish and rollouts take it.
    const passphrase = encrypt ? await keyPassphrase(context, `${model}-${version} content key`, true) : '';
    const release = await createRelease(workspace, firmware, {
      model,
      version,
      securityVersion: integer(values, 'security-version', 0),
      encrypt,
      passphrase,
      ...(context.progress
        ? { onProgress: (d: number, t: number) => context.progress?.('packing', d, t) }
        : {}),
    });
    return releaseFacts(release);
  },
  render: (r) =>
    `created release ${r.model} ${r.version} (security version ${r.securityVersion}, ${r.encrypted ? 'encrypted' : 'signed only'}) in ${r.release}`,
};

export const releaseCheck: Command<ReleaseCheckResult> = {
  path: ['release', 'check'],
  summary: 'The policy gate: every rule a release must pass before it is published, all failures at once.',
  usage: 'release check RELEASE [--channel C] [--workspace DIR] [--json]',
  details: prose`
    Rules: the model is registered; approvals reach the threshold from distinct current approvers; the
    firmware holds no private keys or credentials (scanned at create time); once releases are published,
    the version and security version rise; the firmware fits the model's slot (sihl.json models); the
    image verifies and unpacks as a device would (the passphrase of an encrypted release's content key is
    asked); the vendor's own checks (sihl.json checks) pass, their output kept in the release's checks/.
    A rule that cannot be applied is listed as not checked. Exit code 1 when any rule fails.
  `,
  options: {
    ...optionLines(`
      --channel C  release channel (default stable)
    `),
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    const { workspace, release } = await findRelease(values, positionals, context);
    using contentKey = new ContentKeyOnce(release.contentKeyPath, () =>
      keyPassphrase(context, `${release.info.model}-${release.info.firmwareVersion} content key`),
    );
    const result = await requirePolicy(workspace, release, optionalString(values, 'channel') ?? 'stable', {
      contentKey: contentKey.copy,
    });
    const skipped = new Set(result.notChecked.map((n) => n.rule));
    const { approvals } = await releaseApprovals(workspace, release);
    return {
      release: release.dir,
      ok: true,
      passed: POLICY_RULES.filter((rule) => !skipped.has(rule)),
      notChecked: result.notChecked,
      checks: result.vendorChecks.map((c) => ({
        name: c.name,
        status: c.status,
        log: join(release.dir, c.log),
      })),
      approvals,
    };
  },
  render: (r) =>
    [
      `${r.release} passes ${r.passed.length} rule(s): ${r.passed.join(', ')}`,
      ...r.notChecked.map((n) => `not checked: ${n.rule}: ${n.why}`),
      ...r.checks.map((c) => `check ${c.name}: ${c.status}, output in ${c.log}`),
      ...r.approvals.map(
        (a) =>
          `approved by ${a.approver} (key ${a.keyId.slice(0, 16)}…) at ${a.approved}${a.note ? `: ${JSON.stringify(a.note)}` : ''}`,
      ),
    ].join('\n'),
};

interface PublishResult {
  release: string;
  target: string;
  targetsVersion: number;
  rootVersion: number;
  envelopes: { devices: number; sealed: number; folder: string } | null;
  credentials: { sealed: number; folder: string } | null;
  store?: { location: string; uploaded: number; unchanged: number; bytes: number };
}

export const releasePublish: Command<PublishResult> = {
  path: ['release', 'publish'],
  summary: 'Run the gate, then publish: the image, one key envelope per eligible device, TUF metadata.',
  usage: 'release publish RELEASE [--channel C] [--rollout PERCENT] [--store LOCATION] [--workspace DIR]',
  details: prose`
    Writes into the workspace store: targets/ (the image, content-addressed), releases/M-V/envelopes/
    (each device finds its envelope by its registration index), metadata/ (TUF roots copied from
    trust/tuf; targets, snapshot and timestamp signed by the online rollout, snapshot and timestamp keys:
    no root or approver key is opened). Revoked devices, devices of other
    models and devices outside the rollout get no envelope. With a cloud store (sihl.json or --store),
    the store folder is the staging copy: new files are uploaded, metadata/timestamp.json last.
  `,
  options: {
    ...optionLines(`
      --channel C        release channel (default stable)
      --rollout PERCENT  share of devices that get an envelope (default 100)
    `),
    ...storeOption,
    ...workspaceOption,
  },
  async run(values, positionals, context) {
    const { workspace, release } = await findRelease(values, positionals, context);
    const result = await publishRelease(workspace, release, {
      channel: optionalString(values, 'channel') ?? 'stable',
      rollout: integer(values, 'rollout', 100, 0, 100),
      passphrases: (key) => keyPassphrase(context, key),
      ...storeChoice(values, context),
      ...(context.progress
        ? { onProgress: (d: number, t: number) => context.progress?.('sealing envelopes', d, t) }
        : {}),
    });
    return { release: release.dir, ...result };
  },
  render: (r) =>
    `published ${r.target} (targets version ${r.targetsVersion}, root version ${r.rootVersion})` +
    (r.envelopes
      ? `\n${r.envelopes.sealed} envelope(s) sealed for ${r.envelopes.devices} registered device(s) in ${r.envelopes.folder}`
      : '') +
    renderPushed(r.store),
};

export const timestampRefresh: Command<{
  version: number;
  expires: string;
  store?: { location: string; uploaded: number; unchanged: number; bytes: number };
}> = {
  path: ['timestamp', 'refresh'],
  summary: 'Re-sign the timestamp metadata (it expires in a day) with the online timestamp key.',
  usage: 'timestamp refresh [--store LOCATION] [--workspace DIR]',
  details: prose`
    Run it from a scheduled job in the online folder (\`sihl online create DIR\`): devices refuse an
    expired timestamp, so a frozen store is noticed. It refuses a folder or store where a root or
    approver private key is readable. \`sihl serve\` with SIHL_PASSPHRASE_TIMESTAMP does it by itself.
  `,
  options: { ...storeOption, ...workspaceOption },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    await refuseOfflineKeys(workspace);
    return refreshTimestamp(workspace, (key) => keyPassphrase(context, key), {
      ...storeChoice(values, context),
    });
  },
  render: (r) => `timestamp version ${r.version}, expires ${r.expires}${renderPushed(r.store)}`,
};
