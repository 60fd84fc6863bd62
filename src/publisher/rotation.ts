// Changing the workspace's keys: `sihl keys add`, `keys rotate` and `keys remove` (docs/WORKSPACE.md
// §Keys). One path for all three. Every key that must sign is unlocked and everything new is signed in
// memory first, so a wrong passphrase or a refused change leaves nothing behind. Then, in this order:
// the key files, the trust files devices and images use (root chain, root.json, delegation, the TUF root),
// sihl.json, then the store. An approver change signs only a new delegation (root keys); a change of a
// root, rollout, snapshot or timestamp key signs a new TUF root version (a threshold of the old root keys
// and of the new ones), kept in trust/tuf and published with targets, snapshot and timestamp signed
// again by the online keys after it.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { closeSigners, keyIdOf, type SigningKey } from '../core/crypto/index.ts';
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
import type { Repository } from './tuf/check-repository.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import { makeRoot } from './tuf/metadata.ts';
import { publishRepository, publishRoots } from './tuf/publish.ts';
import { rotateRoot, signWith } from './tuf/signing.ts';
import { adoptTufRoots, tufRolesOf, unpublishedRoots, writeTufRoot } from './tuf-roots.ts';
import { type OnlineRole, ROLES, type Role, Workspace } from './workspace.ts';

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
  /** The next TUF root (root, rollout, snapshot or timestamp keys changed), for trust/tuf and the store. */
  readonly tufRoot?: Metadata<Root>;
  /** The store's TUF roots, taken into trust/tuf by a workspace made before it kept them. */
  readonly adopted?: Metadata<Root>[];
  /** Roots for the store, and with something published new targets, snapshot and timestamp too. */
  readonly store?: { readonly roots: Metadata<Root>[]; readonly rest?: Omit<Repository, 'roots'> };
}

/** Root rotation: the statement that images carry, so a device walks from its pinned root to the new one. */
async function nextRootChain(workspace: Workspace, p: Plan, u: Unlocked): Promise<Uint8Array> {
  const statement: RootStatement = makeRootStatement(
    { version: workspace.rootVersion + 1, threshold: p.roles.root.threshold, keys: u.keys.root },
    (message) => ({
      previous: u.oldRoots.map((k) => entryFrom(k, message)),
      own: u.newRoots.map((k) => entryFrom(k, message)),
    }),
  );
  return encodeRootChain([...decodeRootChain(await readRootChain(workspace)), statement]);
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
  const rootRotates = p.role === 'root';
  const rootVersion = workspace.rootVersion + (rootRotates ? 1 : 0);
  const rootChain = rootRotates ? await nextRootChain(workspace, p, u) : undefined;
  const delegationVersion = delegationChanges(p) ? workspace.config.delegationVersion + 1 : null;
  const delegation =
    delegationVersion === null
      ? undefined
      : signDelegation(
          { version: delegationVersion, threshold: roles.targets.threshold },
          u.keys.targets,
          u.newRoots,
        );
  const tuf = tufRootChanges(p) ? await nextTufRoot(workspace, p, u, options, published) : undefined;
  return {
    rootVersion,
    delegationVersion,
    ...(rootChain ? { rootChain } : {}),
    ...(delegation ? { delegation } : {}),
    ...(tuf ?? {}),
  };
}

/** Approver changes touch only the delegation; every other key is named in the TUF root. */
function tufRootChanges(p: Plan): boolean {
  return p.role !== 'targets';
}

/**
 * The next TUF root, signed by a threshold of the old root keys and of the new ones, and (once
 * something is published) the next targets, snapshot and timestamp signed by the online keys after it.
 */
async function nextTufRoot(
  workspace: Workspace,
  p: Plan,
  u: Unlocked,
  options: KeyChangeOptions,
  published: Published,
): Promise<Pick<SignedChange, 'tufRoot' | 'store' | 'adopted'>> {
  const expiry = options.now ? { now: options.now } : {};
  const { roles } = p;
  const { roots: kept, adopted } = await adoptTufRoots(workspace);
  const pending = unpublishedRoots(workspace, kept, published);
  const current = kept.at(-1);
  const tufRoles = tufRolesOf(u.keys, roles);
  const tufRoot = current
    ? rotateRoot(current, tufRoles, u.oldRoots.map(signerFrom), u.newRoots.map(signerFrom), expiry)
    : signWith(makeRoot({ version: 1, roles: tufRoles, ...expiry }), u.newRoots.map(signerFrom));
  const roots = [...pending, tufRoot];
  const taken = adopted ? { adopted: kept } : {};
  if (!published.targets) return { tufRoot, store: { roots }, ...taken };
  using held = new HeldKeys();
  const signersOf = async (role: OnlineRole) =>
    held
      .hold(
        await roleSigners(workspace, role, options.passphrases, {
          roles,
          ...(u.fresh && !u.fresh.publicOnly ? { fresh: u.fresh } : {}),
        }),
      )
      .map(signerFrom);
  const signers = {
    targets: await signersOf('rollout'),
    snapshot: await signersOf('snapshot'),
    timestamp: await signersOf('timestamp'),
  };
  const rest = nextTopLevel(published, targetEntries(published.targets), signers, expiry);
  return { tufRoot, store: { roots, rest }, ...taken };
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
  for (const root of [...(s.adopted ?? []), ...(s.tufRoot ? [s.tufRoot] : [])])
    await writeTufRoot(next, root);
  await next.save();
  next = await Workspace.open(next.dir);
  const expiry = options.now ? { now: options.now } : {};
  if (s.store?.rest)
    await publishRepository(next.storeDir, { roots: s.store.roots, ...s.store.rest }, expiry);
  else if (s.store) await publishRoots(next.storeDir, s.store.roots, expiry);
  return next;
}

async function changeInStaging(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<KeyChangeResult> {
  const p = plan(workspace, change);
  const published = await readPublished(workspace.storeDir);
  const signsRoot = p.role === 'root' || delegationChanges(p) || tufRootChanges(p);
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
      publishedRootVersion: signed.tufRoot?.signed.version ?? null,
    };
  } finally {
    closeSigners([...u.oldRoots, ...u.newRoots, ...(u.fresh ? [u.fresh.pair] : [])]);
  }
}
