// Changing the workspace's keys: `sihl keys add`, `keys rotate` and `keys remove` (docs/WORKSPACE.md
// §Keys). One path for all three. The change is worked out first (prepareChange): the keys after it and
// exactly what root must sign (root-signatures.ts). Root keys never come from the workspace: the caller
// hands them over (key files from offline storage, or tokens), or a ceremony (ceremony.ts) collects
// their signatures one holder at a time. Everything new is signed in memory before anything is written,
// so a wrong passphrase or a refused change leaves nothing behind. Then, in this order: the key files,
// the trust files devices and images use (root chain, root.json, delegation, the TUF root in trust/tuf),
// sihl.json, then the store. An approver change signs only a new delegation (root keys); a change of a
// root, rollout, snapshot or timestamp key signs a new TUF root version (a threshold of the old root keys
// and of the new ones), published with targets, snapshot and timestamp signed again by the online keys.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { closeSigners, keyIdOf, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { encodeDelegationBody } from '../core/format/delegation.ts';
import { decodeRootChain, encodeRootBody, encodeRootChain } from '../core/format/root-chain.ts';
import { exists, writeFileAtomic } from '../core/fs.ts';
import { encodePublicKeyFile } from '../core/keys.ts';
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { type FreshKey, freshKey, type TokenKeyOption } from './fresh-key.ts';
import { delegationChanges, type KeyChange, type Plan, plan } from './key-change-plan.ts';
import { nextTopLevel, type Published, readPublished, targetEntries } from './published.ts';
import {
  HeldKeys,
  type Passphrases,
  publicKeyOf,
  readRootChain,
  roleSigners,
  writeRootTrust,
} from './role-keys.ts';
import {
  checkGivenRootKeys,
  checkOutsideWorkspace,
  type RootKey,
  type RootSet,
  refuseMisplacedRootKeys,
  requireThreshold,
  rootSet,
} from './root-keys.ts';
import { assemble, type RootSignature, type RootSigned, type RootWork, signWork } from './root-signatures.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom } from './tuf/keys.ts';
import { makeRoot } from './tuf/metadata.ts';
import { publishRepository, publishRoots } from './tuf/publish.ts';
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
  /** Where a new root key's private file goes (root rotation): a folder outside the workspace. */
  readonly rootDir?: string;
  /** The root keys that sign, opened by the caller from outside the workspace (key files or tokens). */
  readonly rootKeys?: readonly SigningKey[];
  /** Passphrases of the workspace keys that sign again what is published (approvers, online keys). */
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

/** A change worked out against the workspace: the plan, every role's keys after it, what root signs. */
export interface PreparedChange {
  readonly plan: Plan;
  readonly published: Published;
  readonly keys: Record<Role, Uint8Array[]>;
  readonly newKey?: RootKey;
  readonly oldKeyId?: string;
  readonly rootVersion: number;
  readonly delegationVersion: number | null;
  readonly work: RootWork;
  /** The workspace's TUF roots the store lacks, and those taken from the store to keep in trust/tuf. */
  readonly pendingRoots: readonly Metadata<Root>[];
  readonly adoptedRoots: readonly Metadata<Root>[];
}

/** The new key's files, written when the change is applied. */
export interface NewKeyFiles {
  readonly name: string;
  /** The private key, when it must sign what is published again (approver and online keys). */
  readonly pair?: SigningKey;
  write(workspace: Workspace): Promise<void>;
}

/** Approver changes touch only the delegation; every other key is named in the TUF root. */
const tufRootChanges = (p: Plan) => p.role !== 'targets';

/** Whether root signs anything for this change (a delegation, a root statement, a TUF root). */
export function rootSigns(p: Plan): boolean {
  return tufRootChanges(p) || delegationChanges(p);
}

/** The public keys of every role after the change; `fresh` is the new key under its name. */
async function publicKeys(
  workspace: Workspace,
  roles: Plan['roles'],
  fresh: RootKey | undefined,
): Promise<Record<Role, Uint8Array[]>> {
  const out = {} as Record<Role, Uint8Array[]>;
  for (const role of ROLES) {
    out[role] = [];
    for (const name of roles[role].keys) {
      out[role].push(name === fresh?.name ? fresh.publicKey : await publicKeyOf(workspace, name));
    }
  }
  return out;
}

/** The next TUF root (unsigned) after the workspace's newest, and the roots the store still lacks. */
async function nextTufRoot(
  workspace: Workspace,
  p: Plan,
  keys: Record<Role, Uint8Array[]>,
  published: Published,
  now?: Clock,
) {
  const { roots: kept, adopted } = await adoptTufRoots(workspace);
  const pending = unpublishedRoots(workspace, kept, published);
  const current = kept.at(-1);
  const version = (current?.signed.version ?? 0) + 1;
  const tufRoot = makeRoot({ version, roles: tufRolesOf(keys, p.roles), ...(now ? { now } : {}) });
  return { tufRoot, previous: current, pending, adopted: adopted ? kept : [] };
}

/**
 * Works out `p` against the workspace with `newKey` as the new key: everything root must sign, unsigned.
 * `now` dates the TUF root (a ceremony passes the time it was planned at, so apply gets the same bytes).
 */
export async function prepareChange(
  workspace: Workspace,
  p: Plan,
  newKey: RootKey | undefined,
  published: Published,
  now?: Clock,
): Promise<PreparedChange> {
  const keys = await publicKeys(workspace, p.roles, newKey);
  const oldKeyId = p.retires ? toHex(keyIdOf(await publicKeyOf(workspace, p.name))) : undefined;
  const next: RootSet = {
    threshold: p.roles.root.threshold,
    keys: p.roles.root.keys.map((name, i) => ({ name, publicKey: keys.root[i] as Uint8Array })),
  };
  const rootVersion = workspace.rootVersion + (p.role === 'root' ? 1 : 0);
  const statement =
    p.role === 'root'
      ? encodeRootBody({ version: rootVersion, threshold: next.threshold, keys: keys.root })
      : undefined;
  const delegationVersion = delegationChanges(p) ? workspace.config.delegationVersion + 1 : null;
  const { threshold } = p.roles.targets;
  const delegation =
    delegationVersion === null
      ? undefined
      : encodeDelegationBody({ version: delegationVersion, threshold, keys: keys.targets });
  const tuf = tufRootChanges(p) ? await nextTufRoot(workspace, p, keys, published, now) : undefined;
  const work: RootWork = {
    current: await rootSet(workspace),
    next,
    ...(delegation ? { delegation } : {}),
    ...(statement ? { statement } : {}),
    ...(tuf ? { tufRoot: tuf.tufRoot } : {}),
    ...(tuf?.previous ? { previousTufRoot: tuf.previous } : {}),
  };
  return {
    plan: p,
    published,
    keys,
    ...(newKey ? { newKey } : {}),
    ...(oldKeyId ? { oldKeyId } : {}),
    rootVersion,
    delegationVersion,
    work,
    pendingRoots: tuf?.pending ?? [],
    adoptedRoots: tuf?.adopted ?? [],
  };
}

/** Targets, snapshot and timestamp signed again under the new TUF root, with the keys after the change. */
async function nextRepository(
  workspace: Workspace,
  prepared: PreparedChange,
  root: Metadata<Root>,
  options: ApplyOptions,
): Promise<Parameters<typeof publishRepository>[1]> {
  const { published } = prepared;
  if (!published.targets) throw new SihlError('INTERNAL', 'nothing is published to sign again');
  const expiry = options.now ? { now: options.now } : {};
  const { roles } = prepared.plan;
  const pair = options.newKey?.pair;
  const fresh = pair ? { name: options.newKey?.name as string, pair } : undefined;
  using held = new HeldKeys();
  const signersOf = async (role: OnlineRole) => {
    const keys = await roleSigners(workspace, role, options.passphrases, {
      roles,
      ...(fresh ? { fresh } : {}),
    });
    held.hold(keys.filter((key) => key !== pair)); // the new key is the caller's to close
    return keys.map(signerFrom);
  };
  const signers = {
    targets: await signersOf('rollout'),
    snapshot: await signersOf('snapshot'),
    timestamp: await signersOf('timestamp'),
  };
  const roots = [...prepared.pendingRoots, root];
  return { roots, ...nextTopLevel(published, targetEntries(published.targets), signers, expiry) };
}

export interface ApplyOptions {
  readonly newKey?: NewKeyFiles;
  readonly passphrases: Passphrases;
  readonly now?: Clock;
}

/** Puts the signatures together and writes the change: keys, trust files, configuration, store. */
export async function applyChange(
  workspace: Workspace,
  prepared: PreparedChange,
  signatures: readonly RootSignature[],
  options: ApplyOptions,
): Promise<KeyChangeResult> {
  const signed = assemble(prepared.work, signatures);
  const repository =
    prepared.published.targets && signed.tufRoot
      ? await nextRepository(workspace, prepared, signed.tufRoot, options)
      : undefined;
  const next = await writeChange(workspace, prepared, signed, options);
  const expiry = options.now ? { now: options.now } : {};
  if (repository) await publishRepository(next.storeDir, repository, expiry);
  else if (signed.tufRoot)
    await publishRoots(next.storeDir, [...prepared.pendingRoots, signed.tufRoot], expiry);
  const { plan: p } = prepared;
  return {
    workspace: next,
    role: p.role,
    name: p.name,
    ...(prepared.newKey ? { publicKey: prepared.newKey.publicKey } : {}),
    ...(prepared.oldKeyId ? { retiredKeyId: prepared.oldKeyId } : {}),
    delegationVersion: prepared.delegationVersion,
    rootVersion: prepared.rootVersion,
    publishedRootVersion: signed.tufRoot?.signed.version ?? null,
  };
}

/** Writes keys, trust files and configuration. Returns the workspace as it is now. */
async function writeChange(
  workspace: Workspace,
  prepared: PreparedChange,
  signed: RootSigned,
  options: ApplyOptions,
): Promise<Workspace> {
  const { plan: p, delegationVersion, rootVersion } = prepared;
  if (p.retires) {
    const retired = join(workspace.dir, 'keys', 'retired');
    await mkdir(retired, { recursive: true });
    const stem = `${p.name}.${prepared.oldKeyId?.slice(0, 16)}`;
    await rename(workspace.keyPath(p.name, 'pub'), join(retired, `${stem}.pub`));
    await rm(workspace.keyPath(p.name, 'key'), { force: true });
    await rm(join(workspace.dir, 'keys', `${p.name}.pkcs11`), { force: true });
  }
  await options.newKey?.write(workspace);
  const next = workspace.with({
    roles: p.roles,
    rootVersion,
    ...(delegationVersion === null ? {} : { delegationVersion }),
  });
  if (signed.statement) {
    const chain = decodeRootChain(await readRootChain(workspace));
    await writeFileAtomic(next.rootChainPath, encodeRootChain([...chain, signed.statement]), {
      overwrite: true,
    });
  }
  if (p.role === 'root') await writeRootTrust(next);
  if (signed.delegation) await writeFileAtomic(next.delegationPath, signed.delegation, { overwrite: true });
  for (const root of [...prepared.adoptedRoots, ...(signed.tufRoot ? [signed.tufRoot] : [])])
    await writeTufRoot(next, root);
  await next.save();
  return Workspace.open(next.dir);
}

/** A key change, signed and applied in one command with the root keys the caller hands over. */
export function changeKeys(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<Mirrored<KeyChangeResult>> {
  return mirrored(workspace, options, () => changeInStaging(workspace, change, options));
}

/** Refuses a root rotation whose new key has nowhere safe to go, before any key is made. */
export async function checkNewRootKeyPlace(
  workspace: Workspace,
  name: string,
  options: Pick<KeyChangeOptions, 'rootDir' | 'token'>,
): Promise<void> {
  if (options.token) return;
  if (!options.rootDir) {
    throw new SihlError(
      'USAGE',
      `the new ${name} is written outside the workspace: pass --root-dir DIR (removable media) or --token pkcs11:…`,
    );
  }
  await checkOutsideWorkspace(workspace.dir, options.rootDir);
  const path = join(options.rootDir, `${name}.key`);
  if (await exists(path)) {
    throw new SihlError(
      'FILE_EXISTS',
      'a root key of this name is already there (perhaps the one being rotated out): name an empty folder',
      { subject: path },
    );
  }
}

/**
 * The new key's files: an approver or online key goes into keys/ (or `folder`); a new root key's private
 * file goes into its folder outside the workspace, and only its public half into keys/.
 */
export function newKeyFiles(fresh: FreshKey, role: Role, rootDir?: string, folder?: string): NewKeyFiles {
  if (role !== 'root') {
    const pair = fresh.publicOnly ? {} : { pair: fresh.pair }; // a key held elsewhere signs nothing here
    return { name: fresh.name, ...pair, write: (ws) => fresh.write(ws, folder) };
  }
  return {
    name: fresh.name,
    async write(workspace) {
      if (rootDir) {
        await mkdir(rootDir, { recursive: true });
        await fresh.write(workspace, rootDir);
      }
      await writePublicKey(workspace, fresh.name, fresh.pair.publicKey);
    },
  };
}

export async function writePublicKey(workspace: Workspace, name: string, publicKey: Uint8Array) {
  const file = encodePublicKeyFile({ kind: 'signing', name, sign: publicKey });
  await writeFileAtomic(workspace.keyPath(name, 'pub'), file, { overwrite: true });
}

async function changeInStaging(
  workspace: Workspace,
  change: KeyChange,
  options: KeyChangeOptions,
): Promise<KeyChangeResult> {
  await refuseMisplacedRootKeys(workspace);
  const p = plan(workspace, change);
  const published = await readPublished(workspace.storeDir);
  const given = options.rootKeys ?? [];
  const current = await rootSet(workspace);
  checkGivenRootKeys(given, current.keys);
  const signs = rootSigns(p);
  if (signs) requireThreshold(current, given, 'current');
  if (p.role === 'root') await checkNewRootKeyPlace(workspace, p.name, options);
  const fresh = p.makesKey ? await freshKey(p.name, p.role, options) : undefined;
  try {
    const newKey = fresh ? { name: fresh.name, publicKey: fresh.pair.publicKey } : undefined;
    const prepared = await prepareChange(workspace, p, newKey, published, options.now);
    const signers = fresh && p.role === 'root' ? [fresh.pair, ...given] : given;
    if (signs) requireThreshold(prepared.work.next, signers, 'new');
    return await applyChange(workspace, prepared, signWork(prepared.work, signers), {
      ...(fresh ? { newKey: newKeyFiles(fresh, p.role, options.rootDir) } : {}),
      passphrases: options.passphrases,
      ...(options.now ? { now: options.now } : {}),
    });
  } finally {
    if (fresh) closeSigners([fresh.pair]);
  }
}
