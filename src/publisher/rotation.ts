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
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { type FreshKey, freshKey, type TokenKeyOption } from './fresh-key.ts';
import { delegationChanges, type KeyChange, type Plan, plan } from './key-change-plan.ts';
import { nextTopLevel, type Published, readPublished, targetEntries } from './published.ts';
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
import { ROLES, type Role, Workspace } from './workspace.ts';

export type { KeyChange } from './key-change-plan.ts';

export interface KeyChangeOptions extends StoreChoice {
  /** The passphrase that locks the new key (add, rotate). */
  readonly passphrase?: string;
  /** Or the token the new key is on (made there if the label is free). */
  readonly token?: TokenKeyOption;
  /** Or only the new approver's public key: their private key stays where they are. */
  readonly publicKey?: Uint8Array;
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

/** A key change: new keys and trust files in the workspace, new metadata, then the configured store. */
export function changeKeys(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<Mirrored<KeyChangeResult>> {
  return mirrored(workspace, options, () => changeInStaging(workspace, change, options));
}

type Signers = Awaited<ReturnType<typeof roleSigners>>;

interface Unlocked {
  readonly oldRoots: Signers;
  readonly newRoots: Signers;
  /** The new key (add, rotate) and its files. */
  readonly fresh?: FreshKey;
  /** Every role's public keys after the change. */
  readonly keys: Record<Role, Uint8Array[]>;
  readonly oldKeyId?: string;
}

/** 1. Unlock: the old root keys sign the change of root (the TUF root, and the root chain). */
async function unlock(
  workspace: Workspace,
  p: Plan,
  options: KeyChangeOptions,
  signsRoot: boolean,
): Promise<Unlocked> {
  const { role, name, roles } = p;
  const oldRoots = signsRoot ? await roleSigners(workspace, 'root', options.passphrases) : [];
  const fresh = p.makesKey ? await freshKey(name, role, options) : undefined;
  const newRoots =
    role === 'root' ? await roleSigners(workspace, 'root', options.passphrases, { roles, fresh }) : oldRoots;
  const keys = await publicKeys(workspace, roles, fresh);
  const oldKeyId = p.retires ? toHex(keyIdOf(await publicKeyOf(workspace, name))) : undefined;
  return { oldRoots, newRoots, keys, ...(fresh ? { fresh } : {}), ...(oldKeyId ? { oldKeyId } : {}) };
}

interface SignedChange {
  readonly rootVersion: number;
  readonly rootChain?: Uint8Array;
  /** The delegation version signed now, or null. */
  readonly delegationVersion: number | null;
  readonly delegation?: Uint8Array;
  /** New TUF metadata, when something is published already. */
  readonly repository?: Parameters<typeof publishRepository>[1];
}

/** 2. Sign everything new, in memory. */
async function signChange(
  workspace: Workspace,
  p: Plan,
  u: Unlocked,
  options: KeyChangeOptions,
  published: Published,
): Promise<SignedChange> {
  const { roles } = p;
  const _expiry = options.now ? { now: options.now } : {};
  const rootRotates = p.role === 'root';
  let rootVersion = workspace.rootVersion;
  let rootChain: Uint8Array | undefined;
  if (rootRotates) {
    rootVersion += 1;
    const statement: RootStatement = makeRootStatement(
      { version: rootVersion, threshold: roles.root.threshold, keys: u.keys.root },
      (message) => ({
        previous: u.oldRoots.map((k) => entryFrom(k, message)),
        own: u.newRoots.map((k) => entryFrom(k, message)),
      }),
    );
    rootChain = encodeRootChain([...decodeRootChain(await readRootChain(workspace)), statement]);
  }
  const delegationVersion = delegationChanges(p) ? workspace.config.delegationVersion + 1 : null;
  const delegation =
    delegationVersion === null
      ? undefined
      : signDelegation(
          { version: delegationVersion, threshold: roles.targets.threshold },
          u.keys.targets,
          u.newRoots,
        );
  const repository = published.root ? await nextRepository(workspace, p, u, options, published) : undefined;
  return {
    rootVersion,
    delegationVersion,
    ...(rootChain ? { rootChain } : {}),
    ...(delegation ? { delegation } : {}),
    ...(repository ? { repository } : {}),
  };
}

/** The rotated TUF root and the next targets, snapshot and timestamp signed with the new keys. */
async function nextRepository(
  workspace: Workspace,
  p: Plan,
  u: Unlocked,
  options: KeyChangeOptions,
  published: Published,
): Promise<Parameters<typeof publishRepository>[1]> {
  if (!published.root || !published.targets) {
    throw new SihlError('TUF_METADATA_INCONSISTENT', 'the store has a root but no targets metadata');
  }
  const expiry = options.now ? { now: options.now } : {};
  const { roles } = p;
  const tufRoles = Object.fromEntries(
    ROLES.map((r) => [r, { keys: u.keys[r], threshold: roles[r].threshold }]),
  ) as unknown as TopLevelRoles;
  const root: Metadata<Root> = rotateRoot(
    published.root,
    tufRoles,
    u.oldRoots.map(signerFrom),
    u.newRoots.map(signerFrom),
    expiry,
  );
  using held = new HeldKeys();
  const signersOf = async (role: 'targets' | 'snapshot' | 'timestamp') =>
    held
      .hold(
        await roleSigners(workspace, role, options.passphrases, {
          roles,
          ...(u.fresh && !u.fresh.publicOnly ? { fresh: u.fresh } : {}),
        }),
      )
      .map(signerFrom);
  const signers = {
    targets: await signersOf('targets'),
    snapshot: await signersOf('snapshot'),
    timestamp: await signersOf('timestamp'),
  };
  return { roots: [root], ...nextTopLevel(published, targetEntries(published.targets), signers, expiry) };
}

/** 3. Write: keys, trust files, configuration, store. Returns the workspace as it is now. */
async function writeChange(
  workspace: Workspace,
  p: Plan,
  u: Unlocked,
  s: SignedChange,
  options: KeyChangeOptions,
): Promise<Workspace> {
  const { name } = p;
  if (p.retires) {
    const retired = join(workspace.dir, 'keys', 'retired');
    await mkdir(retired, { recursive: true });
    await rename(workspace.keyPath(name, 'pub'), join(retired, `${name}.${u.oldKeyId?.slice(0, 16)}.pub`));
    await rm(workspace.keyPath(name, 'key'), { force: true });
    await rm(tokenReferencePath(workspace, name), { force: true });
  }
  if (u.fresh) await u.fresh.write(workspace);
  const { delegationVersion, rootVersion } = s;
  let next = workspace.with({
    roles: p.roles,
    rootVersion,
    ...(delegationVersion === null ? {} : { delegationVersion }),
  });
  if (s.rootChain) await writeFileAtomic(next.rootChainPath, s.rootChain, { overwrite: true });
  if (p.role === 'root') await writeRootTrust(next);
  if (s.delegation) await writeFileAtomic(next.delegationPath, s.delegation, { overwrite: true });
  await next.save();
  next = await Workspace.open(next.dir);
  if (s.repository)
    await publishRepository(next.storeDir, s.repository, options.now ? { now: options.now } : {});
  return next;
}

async function changeInStaging(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<KeyChangeResult> {
  const p = plan(workspace, change);
  const published = await readPublished(workspace.storeDir);
  const signsRoot = p.role === 'root' || delegationChanges(p) || Boolean(published.root);
  const u = await unlock(workspace, p, options, signsRoot);
  try {
    const signed = await signChange(workspace, p, u, options, published);
    const next = await writeChange(workspace, p, u, signed, options);
    return {
      workspace: next,
      role: p.role,
      name: p.name,
      ...(u.fresh ? { publicKey: u.fresh.pair.publicKey } : {}),
      ...(u.oldKeyId ? { retiredKeyId: u.oldKeyId } : {}),
      delegationVersion: signed.delegationVersion,
      rootVersion: signed.rootVersion,
      publishedRootVersion: signed.repository ? (signed.repository.roots[0]?.signed.version ?? null) : null,
    };
  } finally {
    closeSigners([...u.oldRoots, ...u.newRoots, ...(u.fresh ? [u.fresh.pair] : [])]);
  }
}
