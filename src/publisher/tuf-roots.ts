// The workspace's TUF roots (docs/WORKSPACE.md §TUF roots). Root keys sign each version once: version 1
// at `sihl init`, the next at every key rotation that changes it. Each is kept as trust/tuf/N.root.json
// and copied into the store by whoever publishes next, with online keys only. The TUF root names the
// online rollout key as its `targets` role: approvers sign images (FORMAT.md §Delegation), never TUF
// metadata, so a device installs only what they signed whatever the online keys list.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { equalBytes, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { readSmallFile, writeFileAtomic } from '../core/fs.ts';
import type { Published } from './published.ts';
import { roleKeys } from './role-keys.ts';
import { CLIENT_LIMITS } from './tuf/check-repository.ts';
import type { Clock } from './tuf/expiry.ts';
import { signerFrom, tufKeyIdOf } from './tuf/keys.ts';
import { makeRoot, parseMetadata, serialize, type TopLevelRoles } from './tuf/metadata.ts';
import { publishRoots } from './tuf/publish.ts';
import { checkRootSuccession, checkThreshold, signWith } from './tuf/signing.ts';
import type { Role, RoleConfig, Workspace } from './workspace.ts';

/** The TUF roles for the workspace's keys: TUF `targets` is the rollout role, not the approvers. */
export function tufRolesOf(
  keys: Readonly<Record<Role, readonly Uint8Array[]>>,
  roles: Readonly<Record<Role, RoleConfig>>,
): TopLevelRoles {
  const of = (role: Role) => ({ keys: [...keys[role]], threshold: roles[role].threshold });
  return { root: of('root'), targets: of('rollout'), snapshot: of('snapshot'), timestamp: of('timestamp') };
}

export async function workspaceTufRoles(workspace: Workspace): Promise<TopLevelRoles> {
  const keys = {} as Record<Role, Uint8Array[]>;
  for (const role of ['root', 'rollout', 'snapshot', 'timestamp'] as const)
    keys[role] = await roleKeys(workspace, role);
  return tufRolesOf({ ...keys, targets: [] }, workspace.config.roles);
}

/** Every TUF root version the workspace holds, oldest first (1, 2, …, with none missing). */
export async function readTufRoots(workspace: Workspace): Promise<Metadata<Root>[]> {
  const dir = join(workspace.dir, 'trust', 'tuf');
  const names = await readdir(dir).catch(() => [] as string[]);
  const count = names.filter((name) => /^[1-9]\d*\.root\.json$/.test(name)).length;
  const roots: Metadata<Root>[] = [];
  for (let version = 1; version <= count; version++) {
    const path = workspace.tufRootPath(version);
    const root = parseMetadata('root', await readSmallFile(path, CLIENT_LIMITS.rootBytes));
    if (root.signed.version !== version)
      throw new SihlError('TUF_METADATA_INCONSISTENT', `holds root version ${root.signed.version}`, {
        subject: path,
      });
    roots.push(root);
  }
  return roots;
}

/** As readTufRoots, but a workspace without TUF roots is refused, saying where they come from. */
async function requireTufRoots(workspace: Workspace): Promise<Metadata<Root>[]> {
  const roots = await readTufRoots(workspace);
  if (roots.length === 0) {
    throw new SihlError(
      'FILE_NOT_FOUND',
      'the workspace holds no TUF root: `sihl init` makes version 1; a workspace made before TUF roots ' +
        'were kept gets them from `sihl keys rotate --role rollout` (the root keys sign the next one)',
      { subject: workspace.tufRootPath(1) },
    );
  }
  return roots;
}

/**
 * The workspace's TUF roots. A workspace made before they were kept in trust/tuf takes the ones its
 * store publishes, after walking them as a client would (none at all: an empty list); `adopted` says
 * they are still to be written to trust/tuf.
 */
export async function adoptTufRoots(
  workspace: Workspace,
): Promise<{ roots: Metadata<Root>[]; adopted: boolean }> {
  const kept = await readTufRoots(workspace);
  if (kept.length > 0) return { roots: kept, adopted: false };
  const store = join(workspace.storeDir, 'metadata');
  const count = (await readdir(store).catch(() => [] as string[])).filter((n) =>
    /^[1-9]\d*\.root\.json$/.test(n),
  ).length;
  const roots: Metadata<Root>[] = [];
  for (let version = 1; version <= count; version++) {
    roots.push(
      parseMetadata(
        'root',
        await readSmallFile(join(store, `${version}.root.json`), CLIENT_LIMITS.rootBytes),
      ),
    );
  }
  // Walked as a client would (expiry aside: a rotation is how an expired root is replaced).
  roots.forEach((root, i) => {
    const previous = roots[i - 1];
    if (previous) checkRootSuccession(previous, root);
    else checkThreshold(root.signed, 'root', root, 'root version 1');
  });
  return { roots, adopted: roots.length > 0 };
}

export async function writeTufRoot(workspace: Workspace, root: Metadata<Root>): Promise<void> {
  await mkdir(join(workspace.dir, 'trust', 'tuf'), { recursive: true });
  await writeFileAtomic(workspace.tufRootPath(root.signed.version), serialize(root));
}

/** TUF root version 1 for the workspace's keys, signed by `roots` (at `sihl init`), kept and published. */
export async function makeFirstTufRoot(
  workspace: Workspace,
  roots: readonly SigningKey[],
  now?: Clock,
): Promise<Metadata<Root>> {
  const expiry = now ? { now } : {};
  const root = signWith(
    makeRoot({ version: 1, roles: await workspaceTufRoles(workspace), ...expiry }),
    roots.map(signerFrom),
  );
  await writeTufRoot(workspace, root);
  await publishRoots(workspace.storeDir, [root], expiry);
  return root;
}

/** Whether `root` names exactly these keys and thresholds. */
export function rootNames(root: Metadata<Root>, roles: TopLevelRoles): boolean {
  return (['root', 'targets', 'snapshot', 'timestamp'] as const).every((name) => {
    const role = root.signed.roles[name];
    const ids = roles[name].keys.map(tufKeyIdOf).sort();
    return (
      role !== undefined &&
      role.threshold === roles[name].threshold &&
      [...role.keyIDs].sort().join() === ids.join()
    );
  });
}

/**
 * The workspace's TUF roots that the store does not have yet, after checking that the store's newest is
 * the workspace's own and that the workspace's newest names the keys in sihl.json. Opens no key.
 */
export async function rootsToPublish(workspace: Workspace, published: Published): Promise<Metadata<Root>[]> {
  const roots = await requireTufRoots(workspace);
  const newest = roots.at(-1) as Metadata<Root>;
  if (!rootNames(newest, await workspaceTufRoles(workspace))) {
    throw new SihlError(
      'USAGE',
      `the keys in sihl.json differ from TUF root version ${newest.signed.version}; key changes go through \`sihl keys\``,
      { subject: workspace.tufRootPath(newest.signed.version) },
    );
  }
  return unpublishedRoots(workspace, roots, published);
}

/** `roots` (the workspace's) that the store lacks, once the store's newest is known to be one of them. */
export function unpublishedRoots(
  workspace: Workspace,
  roots: readonly Metadata<Root>[],
  published: Published,
): Metadata<Root>[] {
  const inStore = published.root?.signed.version ?? 0;
  const ours = roots[inStore - 1];
  if (published.root && !(ours && equalBytes(serialize(ours), serialize(published.root)))) {
    throw new SihlError(
      'TUF_METADATA_INCONSISTENT',
      `the store's root version ${inStore} is not the workspace's trust/tuf/${inStore}.root.json: is this the workspace's store?`,
      { subject: workspace.tufRootPath(inStore) },
    );
  }
  return roots.slice(inStore);
}
