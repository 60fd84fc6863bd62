// Changing the workspace's keys: `sihl keys add`, `keys rotate` and `keys remove` (docs/WORKSPACE.md
// §Keys). One path for all three. Every key that must sign is unlocked and everything new is signed in
// memory first, so a wrong passphrase or a refused change leaves nothing behind. Then, in this order:
// the key files, the trust files devices and images use (root chain, root.json, delegation), sihl.json,
// and, once anything is published, the store: a new TUF root version signed by a threshold of the old
// root keys and of the new ones, and targets, snapshot and timestamp signed again under it.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { closeSigners, keyIdOf, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import {
  decodeRootChain,
  encodeRootChain,
  makeRootStatement,
  type RootStatement,
} from '../core/format/root-chain.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { LIMITS } from '../core/limits.ts';
import { freshKey, type TokenKeyOption } from './fresh-key.ts';
import { nextTopLevel, readPublished, targetEntries } from './published.ts';
import {
  entryFrom,
  HeldKeys,
  type Passphrases,
  publicKeyOf,
  readRootChain,
  roleSigners,
  signDelegation,
  writeRootTrust,
} from './role-keys.ts';
import { tokenReferencePath } from './token-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import type { TopLevelRoles } from './tuf/metadata.ts';
import { publishRepository } from './tuf/publish.ts';
import { rotateRoot } from './tuf/signing.ts';
import { checkKeyName, ROLES, type Role, type RoleConfig, Workspace } from './workspace.ts';

export type KeyChange =
  /** A new release approver. */
  | { readonly kind: 'add'; readonly name: string }
  /** An approver leaves; the others must still reach the threshold. */
  | { readonly kind: 'remove'; readonly name: string }
  /** A new key in place of the old one, under the same name (the name may be left out if the role has one key). */
  | { readonly kind: 'rotate'; readonly role: Role; readonly name?: string };

export interface KeyChangeOptions {
  /** The passphrase that locks the new key (add, rotate). */
  readonly passphrase?: string;
  /** Or the token the new key is on (made there if the label is free). */
  readonly token?: TokenKeyOption;
  /** Passphrases of the keys that must sign. */
  readonly passphrases: Passphrases;
  readonly now?: Clock;
}

export interface KeyChangeResult {
  readonly workspace: Workspace;
  readonly role: Role;
  readonly name: string;
  /** The new key (add, rotate). */
  readonly publicKey?: Uint8Array;
  /** The old key's id (rotate, remove); its private key file is deleted, its public one kept in keys/retired. */
  readonly retiredKeyId?: string;
  /** The delegation version signed now, or null when none was (fewer approvers than approvals). */
  readonly delegationVersion: number | null;
  /** The root version devices pin (raised by a root rotation). */
  readonly rootVersion: number;
  /** The TUF root version published now, or null while nothing is published. */
  readonly publishedRootVersion: number | null;
}

interface Plan {
  readonly role: Role;
  readonly name: string;
  readonly roles: Readonly<Record<Role, RoleConfig>>;
  readonly makesKey: boolean;
  readonly retires: boolean;
}

function plan(workspace: Workspace, change: KeyChange): Plan {
  const roles = workspace.config.roles;
  const role = change.kind === 'rotate' ? change.role : 'targets';
  if (!ROLES.includes(role)) throw new SihlError('USAGE', `--role must be one of ${ROLES.join(', ')}`);
  const names = roles[role].keys;
  if (change.kind === 'add') {
    const name = checkKeyName(change.name);
    if (ROLES.some((r) => roles[r].keys.includes(name)))
      throw new SihlError('USAGE', `the workspace already has a key named "${name}"`);
    if (names.length >= LIMITS.delegatedKeys)
      throw new SihlError('USAGE', `at most ${LIMITS.delegatedKeys} approvers`);
    return {
      role,
      name,
      roles: { ...roles, targets: { ...roles.targets, keys: [...names, name] } },
      makesKey: true,
      retires: false,
    };
  }
  let name = change.name;
  if (name === undefined) {
    if (names.length !== 1) {
      throw new SihlError(
        'USAGE',
        `the ${role} role has ${names.length} keys (${names.join(', ') || 'none'}): say which with --name`,
      );
    }
    name = names[0] as string;
  }
  if (!names.includes(name)) {
    throw new SihlError(
      'USAGE',
      `the ${role} role has no key "${name}" (it has: ${names.join(', ') || 'none'})`,
    );
  }
  if (change.kind === 'rotate') return { role, name, roles, makesKey: true, retires: true };
  const left = names.filter((n) => n !== name);
  if (left.length < roles.targets.threshold) {
    throw new SihlError(
      'USAGE',
      `removing ${name} would leave ${left.length} approver(s) and releases need ${roles.targets.threshold}: add one first`,
    );
  }
  return {
    role,
    name,
    roles: { ...roles, targets: { ...roles.targets, keys: left } },
    makesKey: false,
    retires: true,
  };
}

/** The public keys of every role after the change; `fresh` is the new key under its name. */
async function publicKeys(
  workspace: Workspace,
  roles: Plan['roles'],
  fresh: { name: string; pair: SigningKey } | undefined,
): Promise<Record<Role, Uint8Array[]>> {
  const out = {} as Record<Role, Uint8Array[]>;
  for (const role of ROLES) {
    out[role] = [];
    for (const name of roles[role].keys) {
      out[role].push(name === fresh?.name ? fresh.pair.publicKey : await publicKeyOf(workspace, name));
    }
  }
  return out;
}

export async function changeKeys(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<KeyChangeResult> {
  const { role, name, roles, makesKey, retires } = plan(workspace, change);
  const { passphrases } = options;
  const expiry = options.now ? { now: options.now } : {};
  const published = await readPublished(workspace.storeDir);
  const targets = roles.targets;
  const delegationReady = targets.keys.length >= targets.threshold;
  const rootRotates = role === 'root';
  const delegationChanges = delegationReady && (role === 'targets' || rootRotates);

  // 1. Unlock: the old root keys sign the change of root (the TUF root, and the root chain).
  const oldRoots =
    rootRotates || delegationChanges || published.root
      ? await roleSigners(workspace, 'root', passphrases)
      : [];
  const fresh = makesKey ? await freshKey(name, role, options) : undefined;
  const newRoots = rootRotates
    ? await roleSigners(workspace, 'root', passphrases, { roles, fresh })
    : oldRoots;
  const keys = await publicKeys(workspace, roles, fresh);
  const oldKeyId = retires ? toHex(keyIdOf(await publicKeyOf(workspace, name))) : undefined;

  // 2. Sign everything new, in memory.
  let rootVersion = workspace.rootVersion;
  let rootChain: Uint8Array | undefined;
  if (rootRotates) {
    rootVersion += 1;
    const statement: RootStatement = makeRootStatement(
      { version: rootVersion, threshold: roles.root.threshold, keys: keys.root },
      (message) => ({
        previous: oldRoots.map((k) => entryFrom(k, message)),
        own: newRoots.map((k) => entryFrom(k, message)),
      }),
    );
    rootChain = encodeRootChain([...decodeRootChain(await readRootChain(workspace)), statement]);
  }
  const delegationVersion = delegationChanges ? workspace.config.delegationVersion + 1 : null;
  const delegation =
    delegationVersion === null
      ? undefined
      : signDelegation({ version: delegationVersion, threshold: targets.threshold }, keys.targets, newRoots);

  let repository: Parameters<typeof publishRepository>[1] | undefined;
  if (published.root) {
    if (!published.targets) {
      throw new SihlError('TUF_METADATA_INCONSISTENT', 'the store has a root but no targets metadata');
    }
    const tufRoles = Object.fromEntries(
      ROLES.map((r) => [r, { keys: keys[r], threshold: roles[r].threshold }]),
    ) as unknown as TopLevelRoles;
    const root: Metadata<Root> = rotateRoot(
      published.root,
      tufRoles,
      oldRoots.map(signerFrom),
      newRoots.map(signerFrom),
      expiry,
    );
    using held = new HeldKeys();
    const signersOf = async (role: 'targets' | 'snapshot' | 'timestamp') =>
      held.hold(await roleSigners(workspace, role, passphrases, { roles, fresh })).map(signerFrom);
    const next = nextTopLevel(
      published,
      targetEntries(published.targets),
      {
        targets: await signersOf('targets'),
        snapshot: await signersOf('snapshot'),
        timestamp: await signersOf('timestamp'),
      },
      expiry,
    );
    repository = { roots: [root], ...next };
  }

  // 3. Write: keys, trust files, configuration, store.
  if (retires) {
    const retired = join(workspace.dir, 'keys', 'retired');
    await mkdir(retired, { recursive: true });
    await rename(workspace.keyPath(name, 'pub'), join(retired, `${name}.${oldKeyId?.slice(0, 16)}.pub`));
    await rm(workspace.keyPath(name, 'key'), { force: true });
    await rm(tokenReferencePath(workspace, name), { force: true });
  }
  if (fresh) await fresh.write(workspace);
  let next = workspace.with({
    roles,
    rootVersion,
    ...(delegationVersion === null ? {} : { delegationVersion }),
  });
  if (rootChain) await writeFileAtomic(next.rootChainPath, rootChain, { overwrite: true });
  if (rootRotates) await writeRootTrust(next);
  if (delegation) await writeFileAtomic(next.delegationPath, delegation, { overwrite: true });
  await next.save();
  next = await Workspace.open(next.dir);
  if (repository) await publishRepository(next.storeDir, repository, expiry);
  closeSigners([...oldRoots, ...newRoots, ...(fresh ? [fresh.pair] : [])]);
  return {
    workspace: next,
    role,
    name,
    ...(fresh ? { publicKey: fresh.pair.publicKey } : {}),
    ...(oldKeyId ? { retiredKeyId: oldKeyId } : {}),
    delegationVersion,
    rootVersion,
    publishedRootVersion: repository ? (repository.roots[0]?.signed.version ?? null) : null,
  };
}
