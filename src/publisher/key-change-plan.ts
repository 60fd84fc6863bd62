// What a key change will do (docs/WORKSPACE.md §Keys), decided before any key is unlocked or file
// written: which role and key, the roles after the change, whether a key is made or retired, and whether
// root signs a new delegation. Pure over the workspace's configuration; rotation.ts carries it out.
import { SihlError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { checkKeyName, ROLES, type Role, type RoleConfig, type Workspace } from './workspace.ts';

export type KeyChange =
  /** A new release approver. */
  | { readonly kind: 'add'; readonly name: string }
  /** An approver leaves; the others must still reach the threshold. */
  | { readonly kind: 'remove'; readonly name: string }
  /** A new key in place of the old one, under the same name (the name may be left out if the role has one key). */
  | { readonly kind: 'rotate'; readonly role: Role; readonly name?: string };

export interface Plan {
  readonly role: Role;
  readonly name: string;
  readonly roles: Readonly<Record<Role, RoleConfig>>;
  readonly makesKey: boolean;
  readonly retires: boolean;
}

export function plan(workspace: Workspace, change: KeyChange): Plan {
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

/** Root signs a new delegation when the approvers change or root's keys do, once there are enough. */
export function delegationChanges(p: Plan): boolean {
  const { targets } = p.roles;
  return targets.keys.length >= targets.threshold && (p.role === 'targets' || p.role === 'root');
}
