// Setting up a workspace and its approvers: `sihl init` and `sihl keys add`.
import { SihlError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { readPublished } from './published.ts';
import { openRegistry } from './registry.ts';
import { makeKey, type Passphrases, roleSigners, writeDelegation, writeRootTrust } from './role-keys.ts';
import { checkKeyName, Workspace } from './workspace.ts';

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
  for (const name of [...rootNames, 'snapshot', 'timestamp'])
    await makeKey(workspace, name, options.passphrase);
  await writeRootTrust(workspace);
  openRegistry(workspace.registryPath).close(); // the device registry, empty
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
  checkKeyName(name);
  const targets = workspace.config.roles.targets;
  const all = Object.values(workspace.config.roles).flatMap((r) => r.keys);
  if (all.includes(name)) throw new SihlError('USAGE', `the workspace already has a key named "${name}"`);
  if (targets.keys.length >= LIMITS.delegatedKeys)
    throw new SihlError('USAGE', `at most ${LIMITS.delegatedKeys} approvers`);
  if ((await readPublished(workspace.storeDir)).root) {
    throw new SihlError(
      'USAGE',
      'approvers cannot change after the first publication until key rotation is built',
    );
  }
  const keys = [...targets.keys, name];
  const ready = keys.length >= targets.threshold;
  // Unlock the root keys before anything is written, so a wrong passphrase leaves nothing behind.
  const roots = ready ? await roleSigners(workspace, 'root', passphrases) : [];
  const publicKey = await makeKey(workspace, name, passphrase);
  let next = workspace.with({
    roles: { ...workspace.config.roles, targets: { ...targets, keys } },
    delegationVersion: ready ? workspace.config.delegationVersion + 1 : workspace.config.delegationVersion,
  });
  if (ready) await writeDelegation(next, roots);
  await next.save();
  next = await Workspace.open(next.dir);
  return { workspace: next, publicKey, delegationVersion: ready ? next.config.delegationVersion : null };
}
