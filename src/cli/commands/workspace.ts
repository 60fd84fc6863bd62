// sihl init, sihl keys add, sihl keys list: a vendor's workspace and its keys by role.

import { keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { type KeyListing, listKeys } from '../../vendor/role-keys.ts';
import { addApprover, initWorkspace } from '../../vendor/setup.ts';
import { Workspace } from '../../vendor/workspace.ts';
import {
  type Command,
  type Context,
  integer,
  optionalString,
  requireString,
  type Values,
} from '../command.ts';
import { pathIn } from '../files.ts';
import { passphraseFor } from '../passphrase.ts';

export const workspaceOption = {
  workspace: {
    type: 'string',
    value: 'DIR',
    help: 'the workspace (default: $SIHL_WORKSPACE or the current folder)',
  },
} as const;

export function openWorkspace(values: Values, context: Context): Promise<Workspace> {
  const dir = optionalString(values, 'workspace') ?? context.env.SIHL_WORKSPACE ?? '.';
  return Workspace.open(pathIn(context, dir));
}

const passphrasesFor = (context: Context) => (name: string) => passphraseFor(context, `for key ${name}`);

interface InitResult {
  workspace: string;
  rootKeys: string[];
  rootThreshold: number;
  approvals: number;
  trust: string;
}

export const init: Command<InitResult> = {
  path: ['init'],
  summary: 'Make a workspace: sihl.json, root keys, the online snapshot and timestamp keys, a local store.',
  usage: 'init [DIR] [--root-keys N] [--root-threshold K] [--approvals K]',
  details:
    'Every private key is locked with the passphrase (SIHL_PASSPHRASE or a prompt). trust/root.json is what\n' +
    'devices pin. Add the release approvers next with `sihl keys add --role targets --name NAME`.',
  options: {
    'root-keys': {
      type: 'string',
      value: 'N',
      help: 'root keys to make (default 1: a trial; use more for production)',
    },
    'root-threshold': { type: 'string', value: 'K', help: 'root keys that must sign (default 1)' },
    approvals: { type: 'string', value: 'K', help: 'approver signatures a release needs (default 2)' },
  },
  async run(values, positionals, context) {
    if (positionals.length > 1) throw new SihlError('USAGE', 'at most one DIR');
    const dir = pathIn(context, positionals[0] ?? '.');
    const passphrase = await passphraseFor(context, 'for the new workspace keys', true);
    const workspace = await initWorkspace(dir, {
      rootKeys: integer(values, 'root-keys', 1, 1, 16),
      rootThreshold: integer(values, 'root-threshold', 1, 1, 16),
      approvals: integer(values, 'approvals', 2, 1, 16),
      passphrase,
    });
    const { roles } = workspace.config;
    return {
      workspace: workspace.dir,
      rootKeys: [...roles.root.keys],
      rootThreshold: roles.root.threshold,
      approvals: roles.targets.threshold,
      trust: workspace.rootTrustPath,
    };
  },
  render: (r) =>
    `made a workspace in ${r.workspace}: ${r.rootThreshold} of ${r.rootKeys.length} root key(s), ` +
    `releases need ${r.approvals} approvals\ndevices pin ${r.trust}\nnext: sihl keys add --role targets --name NAME`,
};

interface AddResult {
  name: string;
  role: string;
  keyId: string;
  approvers: number;
  approvals: number;
  delegationVersion: number | null;
}

export const keysAdd: Command<AddResult> = {
  path: ['keys', 'add'],
  summary: 'Give a release approver a key of their own (role targets).',
  usage: 'keys add --role targets --name NAME [--workspace DIR]',
  details:
    'Once there are as many approvers as approvals, root signs them into a new delegation version, which\n' +
    'every image carries so that bootloaders can check approvals with nothing but the root keys.',
  options: {
    role: { type: 'string', value: 'ROLE', help: 'targets (the approvers)' },
    name: {
      type: 'string',
      value: 'NAME',
      help: "the approver's name; the key files are keys/NAME.key and .pub",
    },
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const role = requireString(values, 'role');
    if (role !== 'targets')
      throw new SihlError(
        'USAGE',
        '--role must be targets: root, snapshot and timestamp keys are made by init',
      );
    const name = requireString(values, 'name');
    const workspace = await openWorkspace(values, context);
    const passphrase = await passphraseFor(context, `for the new key ${name}`, true);
    const result = await addApprover(workspace, name, passphrase, passphrasesFor(context));
    const targets = result.workspace.config.roles.targets;
    return {
      name,
      role,
      keyId: toHex(keyIdOf(result.publicKey)),
      approvers: targets.keys.length,
      approvals: targets.threshold,
      delegationVersion: result.delegationVersion,
    };
  },
  render: (r) =>
    `added approver ${r.name} (key id ${r.keyId.slice(0, 16)}…): ${r.approvers} approver(s), releases need ${r.approvals}` +
    (r.delegationVersion === null
      ? `\nadd ${r.approvals - r.approvers} more before a release can be approved`
      : `\nroot signed delegation version ${r.delegationVersion}`),
};

export const keysList: Command<{ roles: KeyListing[]; delegationVersion: number }> = {
  path: ['keys', 'list'],
  summary: "List the workspace's keys by role, with thresholds and key ids.",
  usage: 'keys list [--workspace DIR] [--json]',
  options: { ...workspaceOption },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    return { roles: await listKeys(workspace), delegationVersion: workspace.config.delegationVersion };
  },
  render: (r) =>
    [
      ...r.roles.flatMap((role) => [
        `${role.role} (${role.threshold} of ${role.keys.length})`,
        ...role.keys.map(
          (k) => `  ${k.name.padEnd(16)} ${k.keyId.slice(0, 16)}…${k.private ? '' : '  (public key only)'}`,
        ),
      ]),
      `delegation version ${r.delegationVersion}`,
    ].join('\n'),
};
