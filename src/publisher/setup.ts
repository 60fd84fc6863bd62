// Setting up a workspace and its approvers: `sihl init` (keys, trust files, TUF root version 1) and
// `sihl keys add`.
import { closeSigners, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import type { Mirrored, StoreChoice } from './cloud-store.ts';
import type { TokenKeyOption } from './fresh-key.ts';
import { openRegistry } from './registry.ts';
import { kdfCostOf, makeKey, type Passphrases, roleSigners, writeRootTrust } from './role-keys.ts';
import { changeKeys } from './rotation.ts';
import { tokenKeyFor, writeTokenKeyFiles } from './token-keys.ts';
import { makeFirstTufRoot } from './tuf-roots.ts';
import { ONLINE_ROLES, Workspace } from './workspace.ts';

export interface InitOptions {
  /** Root keys to make (n), and how many must sign (k); 1 of 1 is for a trial. */
  readonly rootKeys?: number;
  readonly rootThreshold?: number;
  /** Approvals a release needs ("two persons need to sign off"). */
  readonly approvals?: number;
  readonly passphrase: string;
  /** Keys with a passphrase of their own (by key name); the others take `passphrase`. */
  readonly own?: Readonly<Record<string, string>>;
  /** Keep the root key on a PKCS#11 token instead (one root key): the key under this label, or a new one. */
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

export async function initWorkspace(dir: string, options: InitOptions): Promise<Workspace> {
  const n = options.rootKeys ?? 1;
  const k = options.rootThreshold ?? 1;
  const approvals = options.approvals ?? 2;
  if (!Number.isInteger(n) || n < 1 || n > LIMITS.delegatedKeys)
    throw new SihlError('USAGE', `root keys must be 1..${LIMITS.delegatedKeys}`);
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw new SihlError('USAGE', `the root threshold must be 1..${n}`);
  if (!Number.isInteger(approvals) || approvals < 1 || approvals > LIMITS.delegatedKeys) {
    throw new SihlError('USAGE', `approvals must be 1..${LIMITS.delegatedKeys}`);
  }
  const rootNames = Array.from({ length: n }, (_, i) => `root-${i + 1}`);
  const own = options.own ?? {};
  const secretOf = (name: string) => own[name] ?? options.passphrase;
  if (options.rootToken) {
    if (n !== 1) throw new SihlError('USAGE', 'a root key on a token is one root key (--root-keys 1)');
  } else checkSeparateSecrets(rootNames, secretOf, own);
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
  // The root keys sign TUF root version 1 here, once: nothing later that runs with online keys needs them.
  const roots: SigningKey[] = [];
  try {
    if (options.rootToken) {
      const { ref } = options.rootToken;
      const signer = await tokenKeyFor('root-1', ref, options.rootToken.pin);
      roots.push(signer);
      await writeTokenKeyFiles(workspace, 'root-1', ref, signer.publicKey);
    } else {
      for (const name of rootNames) await makeKey(workspace, name, secretOf(name), kdfCostOf('root'));
      roots.push(...(await roleSigners(workspace, 'root', async (name) => secretOf(name))));
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
  choice: StoreChoice & { readonly token?: TokenKeyOption; readonly publicKey?: Uint8Array } = {},
): Promise<Mirrored<AddApproverResult>> {
  const { token, publicKey, ...store } = choice;
  const key = publicKey ? { publicKey } : token ? { token } : { passphrase };
  const result = await changeKeys(workspace, { kind: 'add', name }, { passphrases, ...store, ...key });
  return {
    ...(result.store ? { store: result.store } : {}),
    workspace: result.workspace,
    publicKey: result.publicKey as Uint8Array,
    delegationVersion: result.delegationVersion,
  };
}
