// What publishing writes into a TUF target entry and what the agent reads back (docs/FORMAT.md §Targets):
// the target's name, where consistent snapshots serve it, and its custom fields, parsed once into a
// checked type so no reader trusts an unchecked field of metadata that came over the network.

/** Names of models, approvers, channels and keys: a letter or digit, then letters, digits and . _ - */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The TUF target name of a release, e.g. movehub/movehub-7.28.0.sihl. */
export function targetNameOf(model: string, version: string): string {
  return `${model}/${model}-${version}.sihl`;
}

/** The release folder name, MODEL-VERSION, under releases/ in the workspace and in the store. */
export function releaseNameOf(model: string, version: string): string {
  return `${model}-${version}`;
}

/** Where a target is served under consistent snapshots: its SHA-256 before the file name (TUF §5.7.3). */
export function targetFilePath(name: string, sha256Hex: string): string {
  const slash = name.lastIndexOf('/');
  return `targets/${name.slice(0, slash + 1)}${sha256Hex}.${name.slice(slash + 1)}`;
}

/** The custom fields of a release's target entry. */
export interface TargetCustom {
  readonly model: string;
  readonly version: string;
  readonly securityVersion?: number;
  readonly channel: string;
  /** Percent of the model's devices offered the release (0 while halted). */
  readonly rollout: number;
  readonly releaseId: string;
  /** Set while the rollout is halted (docs/ROLLOUTS.md). */
  readonly halted?: boolean;
  /** Folder of the release's envelope tables, relative to the store; absent for unencrypted images. */
  readonly envelopes?: string;
  /** Folder of the release's credential boxes (renewed log SAS, docs/CLOUD.md); absent without one. */
  readonly credentials?: string;
}

const optional = (value: unknown, type: 'string' | 'number' | 'boolean') =>
  value === undefined || typeof value === type;

/** The checked custom fields of a target entry, or undefined when they are not a release's. */
export function parseTargetCustom(entry: unknown): TargetCustom | undefined {
  const c = (entry as { custom?: Record<string, unknown> } | undefined)?.custom;
  if (!c || typeof c !== 'object') return undefined;
  const ok =
    typeof c.model === 'string' &&
    typeof c.version === 'string' &&
    typeof c.channel === 'string' &&
    typeof c.rollout === 'number' &&
    c.rollout >= 0 &&
    c.rollout <= 100 &&
    typeof c.releaseId === 'string' &&
    /^(?:[0-9a-f]{2})+$/.test(c.releaseId) &&
    optional(c.securityVersion, 'number') &&
    optional(c.halted, 'boolean') &&
    optional(c.envelopes, 'string') &&
    optional(c.credentials, 'string');
  return ok ? (c as unknown as TargetCustom) : undefined;
}
