// Setting up a workspace and its approvers: `sihl init` (keys, trust files, TUF root version 1; the root
// private keys outside the workspace) and `sihl keys add`.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { closeSigners, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { exists, writeFileAtomic } from '../core/fs.ts';
import { newSigningKeyFiles, openSigningKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import type { Mirrored, StoreChoice } from './cloud-store.ts';
import type { TokenKeyOption } from './fresh-key.ts';
import { openRegistry } from './registry.ts';
import { kdfCostOf, makeKey, type Passphrases, writeRootTrust } from './role-keys.ts';
import { checkOutsideWorkspace } from './root-keys.ts';
import { changeKeys, writePublicKey } from './rotation.ts';
import { tokenKeyFor } from './token-keys.ts';
import { makeFirstTufRoot } from './tuf-roots.ts';
import { CONFIG_FILE, ONLINE_ROLES, Workspace } from './workspace.ts';

export interface InitOptions {
  /** Root keys to make (n), and how many must sign (k); 1 of 1 is for a trial. */
  readonly rootKeys?: number;
  readonly rootThreshold?: number;
  /** Approvals a release needs ("two persons need to sign off"). */
  readonly approvals?: number;
  readonly passphrase: string;
  /** Keys with a passphrase of their own (by key name); the others take `passphrase`. */
  readonly own?: Readonly<Record<string, string>>;
  /**
   * Where the root private keys go, never inside the workspace: one folder for all of them, or one per
   * root key (root-1 into the first, and so on), such as each custodian's removable media.
   */
  readonly rootDirs?: readonly string[];
  /** Or keep the root key on a PKCS#11 token (one root key): the key under this label, or a new one. */
  readonly rootToken?: TokenKeyOption;
}

/** Root must not open with the secret the online host holds (docs/THREATS.md §Keys). */
function checkSeparateSecrets(rootNames: readonly string[], secretOf: (name: string) => string, own: object) {
  if (Object.keys(own).length === 0) return; // the shared passphrase alone: the compatibility path
  const online = new Set(ONLINE_ROLES.map(secretOf));
  for (const name of rootNames) {
    if (online.has(secretOf(name))) {
      throw new SihlError(
        'USAGE',
        `${name} would be locked under the same passphrase as the online keys; give it one of its own`,
      );
    }
  }
}

function checkCounts(n: number, k: number, approvals: number): void {
  if (!Number.isInteger(n) || n < 1 || n > LIMITS.delegatedKeys)
    throw new SihlError('USAGE', `root keys must be 1..${LIMITS.delegatedKeys}`);
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw new SihlError('USAGE', `the root threshold must be 1..${n}`);
  if (!Number.isInteger(approvals) || approvals < 1 || approvals > LIMITS.delegatedKeys) {
    throw new SihlError('USAGE', `approvals must be 1..${LIMITS.delegatedKeys}`);
  }
}

/** The folder each root key goes into; refuses a missing choice, a folder inside the workspace, a clash. */
async function rootFolders(
  dir: string,
  rootNames: readonly string[],
  options: InitOptions,
): Promise<string[]> {
  const dirs = options.rootDirs ?? [];
  if (options.rootToken) {
    if (rootNames.length !== 1)
      throw new SihlError('USAGE', 'a root key on a token is one root key (--root-keys 1)');
    if (dirs.length > 0) throw new SihlError('USAGE', 'give --root-dir or a pkcs11: --root-key, not both');
    return [];
  }
  if (dirs.length === 0) {
    throw new SihlError(
      'USAGE',
      'root private keys are kept outside the workspace: pass --root-dir DIR (a folder on removable media; ' +
        'repeat it to give each root key its own) or --root-key pkcs11:… to make the root key on a token',
    );
  }
  if (dirs.length !== 1 && dirs.length !== rootNames.length) {
    throw new SihlError(
      'USAGE',
      `give one --root-dir for all ${rootNames.length} root keys, or one for each`,
    );
  }
  const folders = rootNames.map((_, i) => resolve(dirs[dirs.length === 1 ? 0 : i] as string));
  for (const [i, folder] of folders.entries()) {
    await checkOutsideWorkspace(dir, folder);
    for (const ext of ['key', 'pub']) {
      const path = join(folder, `${rootNames[i]}.${ext}`);
      if (await exists(path))
        throw new SihlError('FILE_EXISTS', 'a root key of this name is already here', { subject: path });
    }
  }
  return folders;
}

/**
 * Makes the root keys: private files into their folders, public halves into the workspace's keys/ too.
 * Returns them opened, for what init signs; the caller wipes them.
 */
async function makeRootKeys(
  workspace: Workspace,
  rootNames: readonly string[],
  folders: readonly string[],
  secretOf: (name: string) => string,
  roots: SigningKey[],
): Promise<void> {
  const made = [];
  for (const name of rootNames) made.push(await newSigningKeyFiles(name, secretOf(name), kdfCostOf('root')));
  for (const [i, files] of made.entries()) {
    const name = rootNames[i] as string;
    const folder = folders[i] as string;
    roots.push(await openSigningKey(new TextEncoder().encode(files.privateFile), secretOf(name)));
    await mkdir(folder, { recursive: true });
    await writeFileAtomic(join(folder, `${name}.key`), files.privateFile, { mode: 0o600 });
    await writeFileAtomic(join(folder, `${name}.pub`), files.publicFile);
    await writeFileAtomic(workspace.keyPath(name, 'pub'), files.publicFile);
  }
}

export async function initWorkspace(dir: string, options: InitOptions): Promise<Workspace> {
  const n = options.rootKeys ?? 1;
  const k = options.rootThreshold ?? 1;
  const approvals = options.approvals ?? 2;
  checkCounts(n, k, approvals);
  const rootNames = Array.from({ length: n }, (_, i) => `root-${i + 1}`);
  const own = options.own ?? {};
  const secretOf = (name: string) => own[name] ?? options.passphrase;
  const folders = await rootFolders(dir, rootNames, options);
  if (!options.rootToken) checkSeparateSecrets(rootNames, secretOf, own);
  if (await exists(join(resolve(dir), CONFIG_FILE))) {
    throw new SihlError('FILE_EXISTS', 'a workspace is already here', {
      subject: join(resolve(dir), CONFIG_FILE),
    });
  }
  const workspace = await Workspace.create(dir, {
    sihl: 'workspace',
    version: 1,
    roles: {
      root: { threshold: k, keys: rootNames },
      targets: { threshold: approvals, keys: [] },
      rollout: { threshold: 1, keys: ['rollout'] },
      snapshot: { threshold: 1, keys: ['snapshot'] },
      timestamp: { threshold: 1, keys: ['timestamp'] },
    },
    delegationVersion: 0,
    store: 'store',
    registry: 'registry.db',
  });
  // The root keys sign TUF root version 1 here, in memory, and are wiped: the workspace never holds them.
  const roots: SigningKey[] = [];
  try {
    if (options.rootToken) {
      const { ref } = options.rootToken;
      const signer = await tokenKeyFor('root-1', ref, options.rootToken.pin);
      roots.push(signer);
      await writePublicKey(workspace, 'root-1', signer.publicKey); // the token keeps the key; no reference here
    } else {
      await makeRootKeys(workspace, rootNames, folders, secretOf, roots);
    }
    for (const role of ONLINE_ROLES) await makeKey(workspace, role, secretOf(role), kdfCostOf(role));
    await writeRootTrust(workspace);
    await makeFirstTufRoot(workspace, roots);
  } finally {
    closeSigners(roots);
  }
  openRegistry(workspace.registryPath).close(); // the device registry, empty
  await (await import('./certificate-files.ts')).ensureServerCertificate(workspace);
  await workspace.save();
  return workspace;
}

export interface AddApproverResult {
  readonly workspace: Workspace;
  readonly publicKey: Uint8Array;
  /** The delegation version signed now, or null while there are fewer approvers than approvals. */
  readonly delegationVersion: number | null;
}

/** A new release approver with a key of their own; re-signs the delegation once it can. */
export async function addApprover(
  workspace: Workspace,
  name: string,
  passphrase: string,
  passphrases: Passphrases,
  choice: StoreChoice & {
    readonly token?: TokenKeyOption;
    readonly publicKey?: Uint8Array;
    readonly rootKeys?: readonly SigningKey[];
  } = {},
): Promise<Mirrored<AddApproverResult>> {
  const { token, publicKey, rootKeys, ...store } = choice;
  const key = publicKey ? { publicKey } : token ? { token } : { passphrase };
  const result = await changeKeys(
    workspace,
    { kind: 'add', name },
    { passphrases, ...store, ...(rootKeys ? { rootKeys } : {}), ...key },
  );
  return {
    ...(result.store ? { store: result.store } : {}),
    workspace: result.workspace,
    publicKey: result.publicKey as Uint8Array,
    delegationVersion: result.delegationVersion,
  };
}
