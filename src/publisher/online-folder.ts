// The online folder (docs/SERVER.md §The online folder): what `sihl serve` and the scheduled jobs run
// from, made from the release manager's workspace. It is itself a workspace (sihl.json with "online":
// true) that holds the online keys only, and shares the store, the registry and the device logs with the
// workspace by naming the same places.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { naming, SihlError } from '../core/errors.ts';
import { targetNameOf } from '../core/format/target.ts';
import { exists, writeFileAtomic } from '../core/fs.ts';
import { formatLocation } from '../storage/locations.ts';
import { ensureServerCertificate } from './certificate-files.ts';
import { logStorePath } from './fleet.ts';
import { readPublished, targetEntries } from './published.ts';
import { openRelease, releasePaths } from './release.ts';
import { ROLLOUT_FILE } from './rollout.ts';
import { tokenReferencePath } from './token-keys.ts';
import {
  CONFIG_FILE,
  ONLINE_ROLES,
  ROLES,
  type Role,
  realPathOf,
  Workspace,
  type WorkspaceConfig,
  within,
} from './workspace.ts';

export interface OnlineFolder {
  readonly dir: string;
  /** Where devices read (a local folder, or a cloud store's address). */
  readonly store: string;
  /** Online private keys copied (key names). */
  readonly keys: readonly string[];
  /** Published releases whose release.json and content key were copied. */
  readonly releases: readonly string[];
  /** The folder existed and was brought up to date. */
  readonly updated: boolean;
  readonly fingerprint: string;
}

/**
 * Makes (or brings up to date) the online folder `dir` from `workspace`: sihl.json naming the same store,
 * registry and log store, every role's public keys, the online roles' private keys, trust/, tls/, and
 * release.json and the content key of each published release. A rollout state already in the folder is
 * kept: once handed over, halts and advances happen there.
 */
export async function createOnlineFolder(workspace: Workspace, dir: string): Promise<OnlineFolder> {
  const target = resolve(dir);
  const updated = await checkTarget(workspace, target);
  for (const sub of ['keys', 'trust', 'releases', 'tls'])
    await mkdir(join(target, sub), {
      recursive: true,
      mode: sub === 'keys' || sub === 'tls' ? 0o700 : 0o755,
    });
  const online = new Workspace(target, onlineConfig(workspace));
  const keys = await copyKeys(workspace, online);
  for (const name of ['root.json', 'delegation.bin', 'root-chain.bin']) {
    await copyIfThere(join(workspace.dir, 'trust', name), join(target, 'trust', name));
  }
  await copyTufRoots(workspace, target);
  const certificate = await ensureServerCertificate(workspace);
  await copy(certificate.certPath, join(target, 'tls', 'server.crt'));
  await copy(certificate.keyPath, join(target, 'tls', 'server.key'), 0o600);
  const releases = await copyReleases(workspace, target);
  // Written last: a folder whose copy failed half-way is no online folder yet.
  const saved = online.with({});
  await saved.save();
  return {
    dir: target,
    store: formatLocation(workspace.storeLocation),
    keys,
    releases,
    updated,
    fingerprint: certificate.fingerprint,
  };
}

/**
 * The folder may be new, empty, or an online folder; never the workspace, inside it, or around it, also
 * when reached through a link.
 */
async function checkTarget(workspace: Workspace, target: string): Promise<boolean> {
  // Links resolved, as for the root key folders: a link from outside into the workspace is inside it.
  const [real, workspaceDir] = [await realPathOf(target), await realPathOf(workspace.dir)];
  if (within(real, workspaceDir) || within(workspaceDir, real)) {
    throw new SihlError(
      'USAGE',
      "the online folder must lie outside the workspace (and not hold it): it is what the server's account may read",
      { subject: target },
    );
  }
  if (!(await exists(join(target, CONFIG_FILE)))) {
    const there = await readdir(target).catch(() => [] as string[]);
    if (there.length > 0) {
      throw new SihlError('FILE_EXISTS', 'the folder holds other files; name a new or empty folder', {
        subject: target,
      });
    }
    return false;
  }
  const existing = await Workspace.open(target);
  if (existing.config.online !== true) {
    throw new SihlError(
      'FILE_EXISTS',
      'a workspace is here that is not an online folder; name another folder',
      {
        subject: existing.configPath,
      },
    );
  }
  return true;
}

/** The workspace's configuration with every place made absolute, so both folders name the same ones. */
function onlineConfig(workspace: Workspace): WorkspaceConfig {
  const { config } = workspace;
  const location = workspace.storeLocation;
  const log = workspace.logLocation;
  return {
    sihl: 'workspace',
    version: 1,
    online: true,
    roles: config.roles,
    delegationVersion: config.delegationVersion,
    ...(config.rootVersion === undefined ? {} : { rootVersion: config.rootVersion }),
    store: formatLocation(location),
    ...(location.kind === 'local' ? {} : { staging: workspace.storeDir }),
    registry: workspace.registryPath,
    log: log ? formatLocation(log) : logStorePath(workspace),
  };
}

/** Every role's public key files; the private key files (or token references) of the online roles only. */
async function copyKeys(workspace: Workspace, online: Workspace): Promise<string[]> {
  const copied: string[] = [];
  for (const role of ROLES) {
    for (const name of workspace.config.roles[role].keys) {
      await copyIfThere(workspace.keyPath(name, 'pub'), online.keyPath(name, 'pub'));
      if (!(ONLINE_ROLES as readonly Role[]).includes(role)) continue;
      if (await copyIfThere(workspace.keyPath(name, 'key'), online.keyPath(name, 'key'), 0o600))
        copied.push(name);
      if (await copyIfThere(tokenReferencePath(workspace, name), tokenReferencePath(online, name), 0o600))
        copied.push(name);
    }
  }
  return copied;
}

/** release.json and content.key of each release the store publishes; rollout.json unless already there. */
async function copyReleases(workspace: Workspace, target: string): Promise<string[]> {
  const published = new Set(
    targetEntries((await readPublished(workspace.storeDir)).targets).map((entry) => entry.name),
  );
  const folder = join(workspace.dir, 'releases');
  const names = (await exists(folder)) ? (await readdir(folder)).sort() : [];
  const copied: string[] = [];
  for (const name of names) {
    const from = join(folder, name);
    if (!(await exists(releasePaths(from).info))) continue;
    const { info } = await openRelease(from);
    if (!published.has(targetNameOf(info.model, info.firmwareVersion))) continue;
    const to = join(target, 'releases', name);
    await mkdir(to, { recursive: true });
    await copy(releasePaths(from).info, releasePaths(to).info);
    await copyIfThere(releasePaths(from).contentKey, releasePaths(to).contentKey, 0o600);
    if (!(await exists(join(to, ROLLOUT_FILE))))
      await copyIfThere(join(from, ROLLOUT_FILE), join(to, ROLLOUT_FILE));
    copied.push(name);
  }
  return copied;
}

async function copy(from: string, to: string, mode?: number): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(from));
  } catch (error) {
    throw naming(from, error);
  }
  await writeFileAtomic(to, bytes, { overwrite: true, ...(mode === undefined ? {} : { mode }) });
}

/** trust/tuf/N.root.json: every TUF root version the workspace signed, which publishing re-checks. */
async function copyTufRoots(workspace: Workspace, target: string): Promise<void> {
  const from = join(workspace.dir, 'trust', 'tuf');
  if (!(await exists(from))) return;
  await mkdir(join(target, 'trust', 'tuf'), { recursive: true, mode: 0o755 });
  for (const name of await readdir(from)) {
    if (/^\d+\.root\.json$/.test(name)) await copy(join(from, name), join(target, 'trust', 'tuf', name));
  }
}

async function copyIfThere(from: string, to: string, mode?: number): Promise<boolean> {
  if (!(await exists(from))) return false;
  await copy(from, to, mode);
  return true;
}
