// What publishing writes into a TUF target entry and what the agent reads back (docs/FORMAT.md §Targets):
// the target's name, where consistent snapshots serve it, and its custom fields, parsed once into a
// checked type so no reader trusts an unchecked field of metadata that came over the network.

/** Names of models, approvers, channels and keys: a letter or digit, then letters, digits and . _ - */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The release channel of a device and of a release when none is given (agent.json, the registry, publish). */
export const DEFAULT_CHANNEL = 'stable';

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
  /** This publication's salt of recipient ids, 32 hex digits (docs/FORMAT.md §Envelope tables). */
  readonly salt?: string;
  /** Slots in the envelope and credential tables: a power of two. */
  readonly slots?: number;
  /**
   * The model's revoked devices, as the first 16 hex digits of their recipient ids under `salt`, padded
   * with random ones: an honest agent that finds itself here installs nothing (docs/THREATS.md).
   */
  readonly revoked?: readonly string[];
}

/** Hex digits of a revoked device's salted id in a target entry: 64 bits, 19 bytes of JSON each. */
export const REVOKED_ID_HEX = 16;

/** The most ids a revoked list may hold (2^20: 19 MiB of JSON), so a listing cannot exhaust a device. */
export const MAX_REVOKED_IDS = 1_048_576;

const tableFieldsOk = (c: Record<string, unknown>) =>
  (c.salt === undefined || (typeof c.salt === 'string' && /^[0-9a-f]{32}$/.test(c.salt))) &&
  (c.slots === undefined || (typeof c.slots === 'number' && Number.isSafeInteger(c.slots) && c.slots > 0)) &&
  (c.revoked === undefined ||
    (Array.isArray(c.revoked) &&
      c.revoked.length <= MAX_REVOKED_IDS &&
      c.revoked.every((id) => typeof id === 'string' && /^[0-9a-f]{16}$/.test(id)))) &&
  // Tables are found by salt and size, and a revoked list is read under the salt: neither without it.
  ((c.envelopes === undefined && c.credentials === undefined && c.revoked === undefined) ||
    (c.salt !== undefined &&
      (c.slots !== undefined || (c.envelopes === undefined && c.credentials === undefined))));

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
    optional(c.credentials, 'string') &&
    tableFieldsOk(c);
  return ok ? (c as unknown as TargetCustom) : undefined;
}
