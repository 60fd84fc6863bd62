// Setting up a workspace and its approvers: `sihl init` and `sihl keys add`.
import { SihlError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { openRegistry } from './registry.ts';
import { kdfCostOf, makeKey, type Passphrases, writeRootTrust } from './role-keys.ts';
import { changeKeys } from './rotation.ts';
import { Workspace } from './workspace.ts';

export interface InitOptions {
  /** Root keys to make (n), and how many must sign (k); 1 of 1 is for a trial. */
  readonly rootKeys?: number;
  readonly rootThreshold?: number;
  /** Approvals a release needs ("two persons need to sign off"). */
  readonly approvals?: number;
  readonly passphrase: string;
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
  const workspace = await Workspace.create(dir, {
    sihl: 'workspace',
    version: 1,
    roles: {
      root: { threshold: k, keys: rootNames },
      targets: { threshold: approvals, keys: [] },
      snapshot: { threshold: 1, keys: ['snapshot'] },
      timestamp: { threshold: 1, keys: ['timestamp'] },
    },
    delegationVersion: 0,
    store: 'store',
    registry: 'registry.db',
  });
  for (const name of rootNames) await makeKey(workspace, name, options.passphrase, kdfCostOf('root'));
  for (const role of ['snapshot', 'timestamp'] as const)
    await makeKey(workspace, role, options.passphrase, kdfCostOf(role));
  await writeRootTrust(workspace);
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
): Promise<AddApproverResult> {
  const result = await changeKeys(workspace, { kind: 'add', name }, { passphrase, passphrases });
  return {
    workspace: result.workspace,
    publicKey: result.publicKey as Uint8Array,
    delegationVersion: result.delegationVersion,
  };
}
