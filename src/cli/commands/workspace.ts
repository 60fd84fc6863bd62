// sihl init, sihl keys add | rotate | remove | list: a vendor's workspace and its keys by role.
import { closeSigners, keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { planCeremony } from '../../publisher/ceremony.ts';
import type { Mirrored } from '../../publisher/cloud-store.ts';
import type { TokenKeyOption } from '../../publisher/fresh-key.ts';
import { type KeyListing, listKeys } from '../../publisher/role-keys.ts';
import { changeKeys, type KeyChange, type KeyChangeResult } from '../../publisher/rotation.ts';
import { initWorkspace } from '../../publisher/setup.ts';
import { ONLINE_ROLES, ROLES, type Role, Workspace } from '../../publisher/workspace.ts';
import {
  type Command,
  type Context,
  integer,
  optionalString,
  requireString,
  strings,
  type Values,
} from '../command.ts';
import { loadPublicKey, pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { keyPassphrase, ownPassphrase, passphraseFor } from '../passphrase.ts';
import { isPkcs11Reference, tokenKeyOption } from '../tokens.ts';
import { type PlannedCeremony, plannedCeremony, renderPlanned } from './ceremony-view.ts';
import { ceremonyOption, openRootKeys, rootKeyOption } from './root-key-option.ts';
import { renderPushed, storeChoice, storeOption } from './store-option.ts';

export const workspaceOption = {
  workspace: {
    type: 'string',
    value: 'DIR',
    help: 'the workspace (default: $SIHL_WORKSPACE or the current folder)',
  },
} as const;

/** Every key change: root keys (or a ceremony file), where to publish, which workspace. */
const keyChangeOptions = { ...rootKeyOption, ...ceremonyOption, ...storeOption, ...workspaceOption };

export function openWorkspace(values: Values, context: Context): Promise<Workspace> {
  const dir = optionalString(values, 'workspace') ?? context.env.SIHL_WORKSPACE ?? '.';
  return Workspace.open(pathIn(context, dir));
}

const passphrasesFor = (context: Context) => (name: string) => keyPassphrase(context, name);

interface InitResult {
  workspace: string;
  rootKeys: string[];
  rootDirs: string[];
  rootThreshold: number;
  approvals: number;
  trust: string;
}

export const init: Command<InitResult> = {
  path: ['init'],
  summary:
    'Make a workspace: sihl.json, root keys (kept outside it), online rollout, snapshot and timestamp keys, TUF root 1, a store.',
  usage:
    'init [DIR] --root-dir DIR [--root-dir DIR …] [--root-keys N] [--root-threshold K] [--approvals K] | --root-key pkcs11:…',
  details: prose`
    Root private keys never go into the workspace: --root-dir names the folder they are written to (removable
    media), outside the workspace; give it once for all root keys or once per root key (root-1 into the first,
    and so on: one per custodian). The workspace keeps only their public halves. --root-key pkcs11:… makes
    the root key on a PKCS#11 token instead. Each private key is locked with its own passphrase
    (SIHL_PASSPHRASE_ROOT_1, SIHL_PASSPHRASE_ROLLOUT, SIHL_PASSPHRASE_SNAPSHOT, SIHL_PASSPHRASE_TIMESTAMP or
    their _FILE_ forms), else the shared SIHL_PASSPHRASE or a prompt; a root key given its own passphrase
    may not share the online keys'. trust/root.json is what devices pin. The root keys sign TUF root
    version 1 (trust/tuf/1.root.json, copied into the store) here, in memory, and are wiped: publishing and
    rollouts then need only the online keys. Add the release approvers next with
    \`sihl keys add --role targets --name NAME --root-key DIR/root-1.key\`.
  `,
  options: optionLines(`
    --root-dir DIR...   folder outside the workspace for the root private keys (once, or once per root key)
    --root-keys N       root keys to make (default 1: a trial; use more for production)
    --root-threshold K  root keys that must sign (default 1)
    --approvals K       approver signatures a release needs (default 2)
    --root-key REF      the root key on a PKCS#11 token (RFC 7512 URI)
  `),
  async run(values, positionals, context) {
    if (positionals.length > 1) throw new SihlError('USAGE', 'at most one DIR');
    const dir = pathIn(context, positionals[0] ?? '.');
    const rootKeys = integer(values, 'root-keys', 1, 1, 16);
    const rootKey = optionalString(values, 'root-key');
    if (rootKey !== undefined && !isPkcs11Reference(rootKey)) {
      throw new SihlError(
        'USAGE',
        'at init, --root-key names a key on a token (pkcs11:…); root key files are made with --root-dir DIR',
      );
    }
    const names = [...Array.from({ length: rootKeys }, (_, i) => `root-${i + 1}`), ...ONLINE_ROLES];
    const own: Record<string, string> = {};
    for (const name of names) {
      const value = await ownPassphrase(context, name);
      if (value !== undefined) own[name] = value;
    }
    const needed: readonly string[] = rootKey ? ONLINE_ROLES : names;
    const passphrase = needed.every((name) => own[name] !== undefined)
      ? ''
      : await passphraseFor(context, 'for the new workspace keys', true);
    const workspace = await initWorkspace(dir, {
      ...(rootKey ? { rootToken: tokenKeyOption(context, rootKey) } : {}),
      rootDirs: strings(values, 'root-dir').map((d) => pathIn(context, d)),
      own,
      rootKeys,
      rootThreshold: integer(values, 'root-threshold', 1, 1, 16),
      approvals: integer(values, 'approvals', 2, 1, 16),
      passphrase,
    });
    const { roles } = workspace.config;
    return {
      workspace: workspace.dir,
      rootKeys: [...roles.root.keys],
      rootDirs: strings(values, 'root-dir').map((d) => pathIn(context, d)),
      rootThreshold: roles.root.threshold,
      approvals: roles.targets.threshold,
      trust: workspace.rootTrustPath,
    };
  },
  render: (r) =>
    `made a workspace in ${r.workspace}: ${r.rootThreshold} of ${r.rootKeys.length} root key(s), ` +
    `releases need ${r.approvals} approvals\n` +
    (r.rootDirs.length > 0
      ? `root private keys in ${r.rootDirs.join(', ')}: keep them offline (not in the workspace)\n`
      : '') +
    `devices pin ${r.trust}\nnext: sihl keys add --role targets --name NAME --root-key ROOT.key`,
};

/**
 * The Ed25519 key of a signing public key file (`sihl keys generate` writes one beside the private key),
 * refused when a key of the workspace is that key already: one person would count as two approvers.
 */
async function approverPublicKey(context: Context, workspace: Workspace, path: string): Promise<Uint8Array> {
  const info = await loadPublicKey(context, path);
  const subject = pathIn(context, path);
  if (info.kind !== 'signing' || !info.sign) {
    throw new SihlError('KEY_WRONG_KIND', `expected a signing public key, found a ${info.kind} key`, {
      subject,
    });
  }
  const id = toHex(keyIdOf(info.sign));
  for (const listing of await listKeys(workspace)) {
    const same = listing.keys.find((k) => k.keyId === id);
    if (same) {
      throw new SihlError('USAGE', `this is the key of ${same.name} (role ${listing.role}) already`, {
        subject,
      });
    }
  }
  return info.sign;
}

interface AddResult {
  name: string;
  role: string;
  keyId: string;
  approvers: number;
  approvals: number;
  delegationVersion: number | null;
  store?: { location: string; uploaded: number; unchanged: number; bytes: number };
}

const ROOT_KEYS_DETAILS =
  'Root signs the change with --root-key (repeat it for a threshold of root keys: key files from offline\n' +
  'storage, each with its own SIHL_PASSPHRASE_<NAME>, or pkcs11: URIs); root keys are never read from the\n' +
  'workspace. With --ceremony FILE instead, the change is planned into FILE for the root key holders to sign\n' +
  'in turn (sihl ceremony sign), then applied with sihl ceremony apply.';

type Planned = { ceremony: PlannedCeremony };

/** Signs and applies the change with the root keys given, or plans it into a ceremony file. */
async function changeOrPlan(
  values: Values,
  context: Context,
  workspace: Workspace,
  change: KeyChange,
  fresh: { passphrase?: string; token?: TokenKeyOption; publicKey?: Uint8Array; rootDir?: string },
): Promise<Planned | { result: Mirrored<KeyChangeResult> }> {
  const rootKeys = await openRootKeys(values, context, workspace.dir);
  try {
    const ceremony = optionalString(values, 'ceremony');
    if (ceremony !== undefined) {
      const file = pathIn(context, ceremony);
      return {
        ceremony: plannedCeremony(file, await planCeremony(workspace, change, file, { ...fresh, rootKeys })),
      };
    }
    const result = await changeKeys(workspace, change, {
      ...fresh,
      rootKeys,
      passphrases: passphrasesFor(context),
      ...storeChoice(values, context),
    });
    return { result };
  } finally {
    closeSigners(rootKeys);
  }
}

export const keysAdd: Command<AddResult | Planned> = {
  path: ['keys', 'add'],
  summary: 'Give a release approver a key of their own (role targets).',
  usage:
    'keys add --role targets --name NAME [--public NAME.pub | --token pkcs11:…] (--root-key FILE|URI … | --ceremony FILE) [--store LOCATION] [--workspace DIR]',
  details:
    'Once there are as many approvers as approvals, root signs them into a new delegation version, which\n' +
    'every image carries so that bootloaders can check approvals with nothing but the root keys.\n' +
    'With --token the key is the one under that label on a PKCS#11 token (made there if the label is free).\n' +
    'With --public the approver keeps their key where they are (made with `sihl keys generate` or on their\n' +
    'own token); the workspace gets only keys/NAME.pub, and they sign with `sihl release approve --request`.\n' +
    ROOT_KEYS_DETAILS,
  options: {
    ...optionLines(`
      --role ROLE    targets (the approvers)
      --name NAME    the approver's name; the key files are keys/NAME.key and .pub
      --token REF    the approver's key on a PKCS#11 token (RFC 7512 URI)
      --public FILE  the approver's public key file: their private key stays with them
    `),
    ...keyChangeOptions,
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
    const tokenRef = optionalString(values, 'token');
    const publicPath = optionalString(values, 'public');
    if (tokenRef && publicPath) throw new SihlError('USAGE', 'give --public or --token, not both');
    const token = tokenRef ? tokenKeyOption(context, tokenRef) : undefined;
    const publicKey = publicPath ? await approverPublicKey(context, workspace, publicPath) : undefined;
    const passphrase = token || publicKey ? '' : await keyPassphrase(context, name, true);
    const key = publicKey ? { publicKey } : token ? { token } : { passphrase };
    const done = await changeOrPlan(values, context, workspace, { kind: 'add', name }, key);
    if ('ceremony' in done) return done;
    const { result } = done;
    const targets = result.workspace.config.roles.targets;
    return {
      name,
      role,
      keyId: toHex(keyIdOf(result.publicKey as Uint8Array)),
      approvers: targets.keys.length,
      approvals: targets.threshold,
      delegationVersion: result.delegationVersion,
      ...(result.store ? { store: result.store } : {}),
    };
  },
  render: (r) =>
    'ceremony' in r
      ? renderPlanned(r.ceremony)
      : `added approver ${r.name} (key id ${r.keyId.slice(0, 16)}…): ${r.approvers} approver(s), releases need ${r.approvals}` +
        (r.delegationVersion === null
          ? `\nadd ${r.approvals - r.approvers} more before a release can be approved`
          : `\nroot signed delegation version ${r.delegationVersion}`) +
        renderPushed(r.store),
};

export interface ChangeResult {
  change: 'rotate' | 'remove' | 'add';
  role: string;
  name: string;
  keyId?: string;
  retiredKeyId?: string;
  delegationVersion: number | null;
  rootVersion: number;
  publishedRootVersion: number | null;
  store?: { location: string; uploaded: number; unchanged: number; bytes: number };
}

export function changeResult(
  change: ChangeResult['change'],
  result: KeyChangeResult & Pick<ChangeResult, 'store'>,
): ChangeResult {
  return {
    change,
    role: result.role,
    name: result.name,
    ...(result.publicKey ? { keyId: toHex(keyIdOf(result.publicKey)) } : {}),
    ...(result.retiredKeyId ? { retiredKeyId: result.retiredKeyId } : {}),
    delegationVersion: result.delegationVersion,
    rootVersion: result.rootVersion,
    publishedRootVersion: result.publishedRootVersion,
    ...(result.store ? { store: result.store } : {}),
  };
}

function changeLine(r: ChangeResult): string {
  if (r.change === 'add') return `added approver ${r.name} (key id ${r.keyId?.slice(0, 16)}…)`;
  return r.change === 'rotate'
    ? `rotated ${r.role} key ${r.name}: ${r.retiredKeyId?.slice(0, 16)}… retired, ${r.keyId?.slice(0, 16)}… in its place`
    : `removed approver ${r.name} (key ${r.retiredKeyId?.slice(0, 16)}…)`;
}

export function renderChange(r: ChangeResult): string {
  const lines = [changeLine(r)];
  if (r.role === 'root') {
    lines.push(`devices now pin root version ${r.rootVersion} (images carry the chain to it)`);
    lines.push(`destroy the old ${r.name} key file (or token key) once every device has updated`);
  }
  if (r.delegationVersion !== null) lines.push(`root signed delegation version ${r.delegationVersion}`);
  lines.push(
    r.publishedRootVersion === null
      ? 'the TUF root is unchanged (approvers sign images, not TUF metadata)'
      : `TUF root version ${r.publishedRootVersion} kept in trust/tuf and published (with targets, snapshot and timestamp signed again once a release is out)`,
  );
  if (r.delegationVersion !== null || r.role === 'root')
    lines.push('releases created before this must be created again');
  return lines.join('\n') + renderPushed(r.store);
}

const renderEither = (r: ChangeResult | Planned) =>
  'ceremony' in r ? renderPlanned(r.ceremony) : renderChange(r);

export const keysRotate: Command<ChangeResult | Planned> = {
  path: ['keys', 'rotate'],
  summary:
    'Replace a key with a new one: a new root version, and a new delegation for approver or root keys.',
  usage:
    'keys rotate --role ROLE [--name NAME] [--root-dir DIR | --token pkcs11:…] (--root-key FILE|URI … | --ceremony FILE) [--store LOCATION] [--workspace DIR]',
  details:
    'ROLE is root, targets, rollout, snapshot or timestamp; NAME may be left out when the role has one key.\n' +
    'The old private key file is deleted and its public file kept in keys/retired. Rotating a root, rollout,\n' +
    'snapshot or timestamp key makes a TUF root version signed by a threshold of the old root keys and of\n' +
    'the new ones. Rotating an approver (targets) signs a new delegation version and leaves the TUF root\n' +
    'as it is: devices that installed an image carrying it refuse the old key. Rotating a\n' +
    'root key adds a statement to trust/root-chain.bin, signed by old and new root keys, which every image\n' +
    'carries, so a device that pinned an older root walks to the new one and pins it. The new root key is\n' +
    'written into --root-dir (outside the workspace; its passphrase from SIHL_PASSPHRASE_<NAME>) and signs too.\n' +
    'With --token the new key, of any role, is the one under that label on a PKCS#11 token (made there if\n' +
    'the label is free; no passphrase): a new root key then stays on the token, the workspace gets only its\n' +
    'public key, and later root operations name it with --root-key pkcs11:….\n' +
    ROOT_KEYS_DETAILS,
  options: {
    ...optionLines(`
      --role ROLE     root, targets, rollout, snapshot or timestamp
      --name NAME     which key of the role
      --root-dir DIR  folder outside the workspace for a new root key
      --token REF     the new key on a PKCS#11 token (RFC 7512 URI)
    `),
    ...keyChangeOptions,
  },
  async run(values, _positionals, context) {
    const role = requireString(values, 'role');
    if (!ROLES.includes(role as Role))
      throw new SihlError('USAGE', `--role must be one of ${ROLES.join(', ')}`);
    const name = optionalString(values, 'name');
    const workspace = await openWorkspace(values, context);
    const keys = workspace.config.roles[role as Role].keys;
    const keyName = name ?? (keys.length === 1 ? keys[0] : undefined);
    const rootDir = optionalString(values, 'root-dir');
    if (rootDir !== undefined && role !== 'root')
      throw new SihlError('USAGE', '--root-dir is where a new root key goes: only with --role root');
    const tokenRef = optionalString(values, 'token');
    if (tokenRef !== undefined && rootDir !== undefined)
      throw new SihlError('USAGE', 'give --root-dir or --token for the new root key, not both');
    const newKey = tokenRef
      ? { token: tokenKeyOption(context, tokenRef) }
      : {
          passphrase: keyName
            ? await keyPassphrase(context, keyName, true)
            : await passphraseFor(context, `for the new ${role} key`, true),
        };
    const change: KeyChange = { kind: 'rotate', role: role as Role, ...(name === undefined ? {} : { name }) };
    const done = await changeOrPlan(values, context, workspace, change, {
      ...newKey,
      ...(rootDir ? { rootDir: pathIn(context, rootDir) } : {}),
    });
    return 'ceremony' in done ? done : changeResult('rotate', done.result);
  },
  render: renderEither,
};

export const keysRemove: Command<ChangeResult | Planned> = {
  path: ['keys', 'remove'],
  summary: 'Remove a release approver: a new delegation version and a new root version without their key.',
  usage:
    'keys remove --role targets --name NAME (--root-key FILE|URI … | --ceremony FILE) [--store LOCATION] [--workspace DIR]',
  details:
    'The remaining approvers must still reach the approvals a release needs. The private key file is\n' +
    'deleted and the public one kept in keys/retired.\n' +
    ROOT_KEYS_DETAILS,
  options: {
    ...optionLines(`
      --role ROLE  targets (the approvers)
      --name NAME  the approver to remove
    `),
    ...keyChangeOptions,
  },
  async run(values, _positionals, context) {
    if (requireString(values, 'role') !== 'targets')
      throw new SihlError(
        'USAGE',
        '--role must be targets: other roles keep their keys; rotate them instead',
      );
    const name = requireString(values, 'name');
    const workspace = await openWorkspace(values, context);
    const done = await changeOrPlan(values, context, workspace, { kind: 'remove', name }, {});
    return 'ceremony' in done ? done : changeResult('remove', done.result);
  },
  render: renderEither,
};

export const keysList: Command<{ roles: KeyListing[]; delegationVersion: number; rootVersion: number }> = {
  path: ['keys', 'list'],
  summary: "List the workspace's keys by role, with thresholds and key ids.",
  usage: 'keys list [--workspace DIR] [--json]',
  options: { ...workspaceOption },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    return {
      roles: await listKeys(workspace),
      delegationVersion: workspace.config.delegationVersion,
      rootVersion: workspace.rootVersion,
    };
  },
  render: (r) =>
    [
      ...r.roles.flatMap((role) => [
        `${role.role} (${role.threshold} of ${role.keys.length})`,
        ...role.keys.map(
          (k) => `  ${k.name.padEnd(16)} ${k.keyId.slice(0, 16)}…${k.private ? '' : '  (public key only)'}`,
        ),
      ]),
      `delegation version ${r.delegationVersion}, root version ${r.rootVersion}`,
    ].join('\n'),
};
