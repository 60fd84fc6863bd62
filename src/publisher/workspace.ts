// A vendor's workspace (docs/WORKSPACE.md): `sihl.json` says which keys hold which role and with what
// threshold, where the store and the device registry are, and the current delegation version. Keys live
// in `keys/`, each private key locked with a passphrase; `trust/root.json` is what devices pin, and
// `trust/tuf/N.root.json` every TUF root version, signed by root keys and copied into the store.
import { mkdir, readFile, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { naming, SihlError } from '../core/errors.ts';
import { NAME_PATTERN } from '../core/format/target.ts';
import { exists, writeFileAtomic } from '../core/fs.ts';
import { LIMITS } from '../core/limits.ts';
import {
  type LogLocation,
  parseLogLocation,
  parseStoreLocation,
  type StoreLocation,
} from '../storage/locations.ts';
import { checkGateConfig, type ModelConfig, type VendorCheckConfig } from './gate-config.ts';

/**
 * `targets` are the release approvers: they sign images (and root signs their delegation), never TUF
 * metadata. `rollout` is the online key that signs TUF targets.json (which approved image each device is
 * offered): the TUF root names it as its targets role.
 */
export type Role = 'root' | 'targets' | 'rollout' | 'snapshot' | 'timestamp';
export const ROLES: readonly Role[] = ['root', 'targets', 'rollout', 'snapshot', 'timestamp'];
/** The keys publishing, rollouts, `sihl serve` and the timestamp job use: none can ship firmware. */
export const ONLINE_ROLES = ['rollout', 'snapshot', 'timestamp'] as const;
export type OnlineRole = (typeof ONLINE_ROLES)[number];

export interface RoleConfig {
  readonly threshold: number;
  /** Key names: `keys/NAME.key` and `keys/NAME.pub`. */
  readonly keys: readonly string[];
}

export interface WorkspaceConfig {
  readonly sihl: 'workspace';
  readonly version: 1;
  readonly roles: Readonly<Record<Role, RoleConfig>>;
  /** Version of the approver delegation that images carry (0: none yet); rises with every change. */
  readonly delegationVersion: number;
  /** Version of the root keys devices pin (docs/FORMAT.md §Root chain): 1 at init, +1 per root rotation. */
  readonly rootVersion?: number;
  /**
   * Where releases are published: a folder relative to the workspace (the embedded store), or
   * `azure://ACCOUNT/CONTAINER[/PREFIX]` or `s3://BUCKET[/PREFIX]` (docs/CLOUD.md).
   */
  readonly store: string;
  /** With a cloud store: the folder that holds the staging copy publishing builds (default `store`). */
  readonly staging?: string;
  /** Device logs: `azure://ACCOUNT/TABLE`, or a SQLite file (default: logs.db in the workspace). */
  readonly log?: string;
  /** The device registry (node:sqlite), relative to the workspace. */
  readonly registry: string;
  /** What the gate knows of each device model: its executable slot size (fits-slot). */
  readonly models?: Readonly<Record<string, ModelConfig>>;
  /** The vendor's own checks the gate runs on the firmware (vendor-checks). */
  readonly checks?: readonly VendorCheckConfig[];
  /** An online folder (`sihl online create`, docs/SERVER.md): online keys only, for `serve` and jobs. */
  readonly online?: true;
}

export const CONFIG_FILE = 'sihl.json';
const NAME = NAME_PATTERN;

export class Workspace {
  readonly dir: string;
  readonly config: WorkspaceConfig;

  constructor(dir: string, config: WorkspaceConfig) {
    this.dir = dir;
    this.config = config;
  }

  get configPath(): string {
    return join(this.dir, CONFIG_FILE);
  }

  keyPath(name: string, kind: 'key' | 'pub'): string {
    return join(this.dir, 'keys', `${name}.${kind}`);
  }

  get rootTrustPath(): string {
    return join(this.dir, 'trust', 'root.json');
  }

  /** TUF root version `version` (docs/WORKSPACE.md): made by root keys, published by online ones. */
  tufRootPath(version: number): string {
    return join(this.dir, 'trust', 'tuf', `${version}.root.json`);
  }

  get delegationPath(): string {
    return join(this.dir, 'trust', 'delegation.bin');
  }

  /** The root statements since root version 1, which images carry (absent before the first rotation). */
  get rootChainPath(): string {
    return join(this.dir, 'trust', 'root-chain.bin');
  }

  get rootVersion(): number {
    return this.config.rootVersion ?? 1;
  }

  /** Where releases are published (`--store` may name another place for one command). */
  get storeLocation(): StoreLocation {
    return parseStoreLocation(this.config.store, this.dir);
  }

  /**
   * The local folder publishing writes into: the store itself, or the staging copy of a cloud store
   * (mirrored to it afterwards; `sihl serve` can serve it too).
   */
  get storeDir(): string {
    const location = this.storeLocation;
    return location.kind === 'local' ? location.path : resolve(this.dir, this.config.staging ?? 'store');
  }

  /** Where device logs are kept, when sihl.json names a place (otherwise logs.db of `sihl serve`). */
  get logLocation(): LogLocation | undefined {
    return this.config.log === undefined ? undefined : parseLogLocation(this.config.log, this.dir);
  }

  get registryPath(): string {
    return resolve(this.dir, this.config.registry);
  }

  with(change: Partial<WorkspaceConfig>): Workspace {
    return new Workspace(this.dir, checkConfig({ ...this.config, ...change }, this.configPath));
  }

  async save(): Promise<void> {
    await writeFileAtomic(this.configPath, `${JSON.stringify(this.config, null, 2)}\n`, { overwrite: true });
  }

  static async create(dir: string, config: WorkspaceConfig): Promise<Workspace> {
    const workspace = new Workspace(resolve(dir), checkConfig(config, join(dir, CONFIG_FILE)));
    if (await exists(workspace.configPath)) {
      throw new SihlError('FILE_EXISTS', 'a workspace is already here', { subject: workspace.configPath });
    }
    for (const sub of ['keys', 'trust', 'releases'])
      await mkdir(join(workspace.dir, sub), { recursive: true });
    await mkdir(workspace.storeDir, { recursive: true });
    return workspace;
  }

  /** Finds the workspace in `dir` (the current folder by default, or SIHL_WORKSPACE). */
  static async open(dir: string): Promise<Workspace> {
    const path = join(resolve(dir), CONFIG_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SihlError('FILE_NOT_FOUND', 'no sihl workspace here; run `sihl init` or pass --workspace', {
          subject: path,
        });
      }
      throw naming(path, error);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SihlError('USAGE', `not valid JSON: ${(error as Error).message}`, { subject: path });
    }
    const workspace = new Workspace(resolve(dir), checkConfig(parsed, path));
    await checkStoreApart(workspace);
    return workspace;
  }
}

/**
 * Refuses a store folder (or a cloud store's staging copy) that holds a workspace's `keys/` or sihl.json:
 * `sihl serve` would hand them to anyone who asks. checkConfig refuses the paths that name the workspace.
 */
export async function checkStoreApart(workspace: Workspace): Promise<void> {
  for (const name of ['keys', CONFIG_FILE]) {
    const path = join(workspace.storeDir, name);
    if (await exists(path)) {
      throw new SihlError(
        'USAGE',
        `the store holds ${name}: a store is served to anyone, so it may never hold a workspace's keys or sihl.json; give the store a folder of its own (sihl.json "store")`,
        { subject: path },
      );
    }
  }
}

/** The path with every folder that exists, and every link even to one that does not yet, resolved. */
export async function realPathOf(path: string, depth = 0): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {}
  const parent = dirname(absolute);
  if (parent === absolute || depth > 40) return absolute;
  const here = join(await realPathOf(parent, depth + 1), basename(absolute));
  try {
    return await realPathOf(resolve(dirname(here), await readlink(here)), depth + 1);
  } catch {
    return here;
  }
}

/** Whether the folder `inner` is `outer` or lies inside it (both absolute). */
export function within(inner: string, outer: string): boolean {
  const path = relative(outer, inner);
  return path === '' || (path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path));
}

/** The store (and a cloud store's staging copy) may not be the workspace, nor a folder that holds it. */
function checkStoreNotWorkspace(c: Partial<WorkspaceConfig>, path: string, problems: string[]): void {
  const dir = dirname(resolve(path));
  for (const field of ['store', 'staging'] as const) {
    const value = c[field];
    if (typeof value !== 'string' || value === '') continue;
    let folder: string;
    try {
      const location = parseStoreLocation(value, dir);
      if (location.kind !== 'local') continue;
      folder = location.path;
    } catch {
      continue;
    }
    if (within(dir, folder)) {
      problems.push(
        `"${field}": ${JSON.stringify(value)} is the workspace or holds it, so \`sihl serve\` would serve keys/ and sihl.json; use a folder of its own, such as "store"`,
      );
    }
  }
}

const MISSING_ROLLOUT =
  'roles.rollout is missing: this workspace was made before TUF targets were signed by an online ' +
  'rollout key instead of the approvers. Add it: put "rollout": { "threshold": 1, "keys": ["rollout"] } ' +
  'in "roles", run `sihl keys generate --name rollout --out keys` in the workspace, then ' +
  '`sihl keys rotate --role rollout --root-key ROOT.key` (the root keys sign a TUF root that names the new key)';

/** Every problem with a configuration, listed at once. */
export function checkConfig(value: unknown, path: string): WorkspaceConfig {
  const problems: string[] = [];
  const c = value as Partial<WorkspaceConfig> | null;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw new SihlError('USAGE', 'not a sihl workspace configuration', { subject: path });
  }
  if (c.sihl !== 'workspace') problems.push('"sihl" must be "workspace"');
  if (c.version !== 1) problems.push('"version" must be 1');
  if (!Number.isInteger(c.delegationVersion) || (c.delegationVersion as number) < 0) {
    problems.push('"delegationVersion" must be a whole number ≥ 0');
  }
  if (c.rootVersion !== undefined && (!Number.isInteger(c.rootVersion) || c.rootVersion < 1)) {
    problems.push('"rootVersion" must be a whole number ≥ 1');
  }
  for (const field of ['store', 'registry'] as const) {
    if (typeof c[field] !== 'string' || c[field] === '') problems.push(`"${field}" must be a path`);
  }
  const where = (field: 'store' | 'log', parse: (text: string) => unknown) => {
    const value = c[field];
    if (typeof value !== 'string' || value === '') return;
    try {
      parse(value);
    } catch (error) {
      problems.push(`"${field}": ${(error as Error).message}`);
    }
  };
  where('store', (text) => parseStoreLocation(text, '/'));
  checkStoreNotWorkspace(c, path, problems);
  if (c.log !== undefined && (typeof c.log !== 'string' || c.log === ''))
    problems.push('"log" must be a location');
  where('log', (text) => parseLogLocation(text, '/'));
  if (c.staging !== undefined && (typeof c.staging !== 'string' || c.staging === '')) {
    problems.push('"staging" must be a path');
  }
  if (c.online !== undefined && c.online !== true) problems.push('"online" must be true when present');
  const roles = (c.roles ?? {}) as Partial<Record<Role, RoleConfig>>;
  const seen = new Set<string>();
  for (const role of ROLES) {
    const r = roles[role];
    if (role === 'rollout' && r === undefined && typeof c.roles === 'object') {
      problems.push(MISSING_ROLLOUT);
      continue;
    }
    if (!r || !Array.isArray(r.keys) || !Number.isInteger(r.threshold)) {
      problems.push(`roles.${role} needs "keys" (a list of names) and "threshold"`);
      continue;
    }
    if (r.threshold < 1) problems.push(`roles.${role}.threshold must be at least 1`);
    if (r.threshold > LIMITS.delegatedKeys) {
      problems.push(
        `roles.${role}.threshold ${r.threshold} is above the most keys a role may have (${LIMITS.delegatedKeys})`,
      );
    }
    for (const name of r.keys) {
      if (typeof name !== 'string' || !NAME.test(name))
        problems.push(`roles.${role}: bad key name ${JSON.stringify(name)}`);
      else if (seen.has(name)) problems.push(`key "${name}" is listed twice`);
      else seen.add(name);
    }
    // Targets may have fewer keys than its threshold only while the approvers are being added (no
    // delegation yet): afterwards no release could ever be approved.
    const settingUp = role === 'targets' && c.delegationVersion === 0;
    if (!settingUp && r.keys.length < r.threshold) {
      problems.push(`roles.${role}: threshold ${r.threshold} but only ${r.keys.length} key(s)`);
    }
  }
  checkGateConfig(c, problems);
  if (problems.length > 0) {
    throw new SihlError('USAGE', `invalid workspace configuration:\n  - ${problems.join('\n  - ')}`, {
      subject: path,
    });
  }
  return c as WorkspaceConfig;
}

export function checkKeyName(name: string): string {
  if (!NAME.test(name)) throw new SihlError('USAGE', 'a key name is 1 to 64 of A-Z a-z 0-9 . _ -');
  return name;
}
