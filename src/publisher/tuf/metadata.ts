// Builds the four top-level TUF roles (spec §4.3–4.6) as unsigned @tufjs/models objects, and turns
// metadata into the bytes that are served and back. Pure: keys, versions and dates in, objects out.
// Each builder writes plain JSON and parses it with the models, so what sihl makes is exactly what
// a client will read.
import { canonicalize } from '@tufjs/canonical-json';
import {
  Metadata,
  MetadataKind,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { sha256 } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { fromUtf8, toHex, utf8 } from '../../core/format/bytes.ts';
import { checkVersion, type ExpiryOptions, expiresFor } from './expiry.ts';
import { tufKeyIdOf, tufKeyOf } from './keys.ts';

/** The specification version sihl writes (the one @tufjs/models 5 implements). */
export const TUF_SPEC_VERSION = '1.0.31';
/** Keys in one role: more than a handful of root or approver keys is a configuration mistake. */
export const MAX_ROLE_KEYS = 16;
export const MAX_TARGET_NAME_BYTES = 255;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type AnyMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>;

export interface RoleKeys {
  readonly keys: readonly Uint8Array[];
  readonly threshold: number;
}

export interface TopLevelRoles {
  readonly root: RoleKeys;
  readonly targets: RoleKeys;
  readonly snapshot: RoleKeys;
  readonly timestamp: RoleKeys;
}

export interface RootOptions extends ExpiryOptions {
  readonly version: number;
  /** sihl publishes consistent snapshots only (spec §7): versioned metadata, hash-prefixed targets. */
  readonly consistentSnapshot?: true;
  readonly roles: TopLevelRoles;
}

/** One file in targets metadata (spec §4.5, TARGETS): `sha256` is lowercase hex. */
export interface TargetEntry {
  readonly name: string;
  readonly length: number;
  readonly sha256: string;
  readonly custom?: { readonly [key: string]: JsonValue };
}

export interface TargetsOptions extends ExpiryOptions {
  readonly version: number;
  readonly targets: readonly TargetEntry[];
}

/** A metadata file as another role describes it (spec §4.4 METAFILES): its version, size and digest. */
export interface MetaFileDescription {
  readonly version: number;
  readonly length: number;
  readonly sha256: string;
}

export interface SnapshotOptions extends ExpiryOptions {
  readonly version: number;
  readonly targets: MetaFileDescription;
}

export interface TimestampOptions extends ExpiryOptions {
  readonly version: number;
  readonly snapshot: MetaFileDescription;
}

const ROLE_NAMES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
const KINDS = {
  root: MetadataKind.Root,
  targets: MetadataKind.Targets,
  snapshot: MetadataKind.Snapshot,
  timestamp: MetadataKind.Timestamp,
} as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Plain path segments only: no '..', no URL-special or control characters, nothing to escape. */
const TARGET_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function checkRole(name: string, role: RoleKeys): { keyIDs: string[]; threshold: number } {
  const { keys, threshold } = role;
  if (keys.length === 0 || keys.length > MAX_ROLE_KEYS) {
    throw new SihlError('USAGE', `the ${name} role needs 1 to ${MAX_ROLE_KEYS} keys, not ${keys.length}`);
  }
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > keys.length) {
    throw new SihlError('USAGE', `the ${name} threshold must be 1 to ${keys.length}, not ${threshold}`);
  }
  const keyIDs = keys.map((key) => tufKeyIdOf(key));
  // A key listed twice would let one holder count twice toward the threshold.
  if (new Set(keyIDs).size !== keyIDs.length) {
    throw new SihlError('USAGE', `the ${name} role lists the same key twice`);
  }
  return { keyIDs, threshold };
}

export function makeRoot(options: RootOptions): Metadata<Root> {
  const keys: Record<string, JsonValue> = {};
  const roles: Record<string, JsonValue> = {};
  for (const name of ROLE_NAMES) {
    const role = options.roles[name];
    roles[name] = { keyids: checkRole(name, role).keyIDs, threshold: role.threshold };
    for (const key of role.keys) {
      const tufKey = tufKeyOf(key);
      keys[tufKey.keyID] = tufKey.toJSON() as JsonValue;
    }
  }
  return build(MetadataKind.Root, {
    _type: 'root',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(options.version, 'root'),
    expires: expiresFor('root', options),
    consistent_snapshot: true,
    keys,
    roles,
  });
}

export function checkTargetName(name: string): string {
  const segments = name.split('/');
  if (utf8.encode(name).length > MAX_TARGET_NAME_BYTES || !segments.every((s) => TARGET_SEGMENT.test(s))) {
    throw new SihlError(
      'USAGE',
      `target name ${JSON.stringify(name.slice(0, 80))} must be '/'-separated segments of letters, digits and . _ + - (at most ${MAX_TARGET_NAME_BYTES} bytes, no segment starting with a dot)`,
    );
  }
  return name;
}

function checkSha256Hex(value: string, what: string): string {
  if (!SHA256_HEX.test(value)) throw new SihlError('USAGE', `${what} must be 64 lowercase hex digits`);
  return value;
}

function checkLength(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SihlError('USAGE', `${what} length must be a whole number of bytes, not ${value}`);
  }
  return value;
}

/** The targets entry for some bytes. */
export function targetEntryOf(name: string, bytes: Uint8Array, custom?: TargetEntry['custom']): TargetEntry {
  const entry = { name: checkTargetName(name), length: bytes.length, sha256: toHex(sha256(bytes)) };
  return custom === undefined ? entry : { ...entry, custom };
}

export function makeTargets(options: TargetsOptions): Metadata<Targets> {
  const targets: Record<string, JsonValue> = {};
  for (const entry of options.targets) {
    checkTargetName(entry.name);
    if (Object.hasOwn(targets, entry.name))
      throw new SihlError('USAGE', `target ${entry.name} is listed twice`);
    const file: Record<string, JsonValue> = {
      length: checkLength(entry.length, entry.name),
      hashes: { sha256: checkSha256Hex(entry.sha256, `the SHA-256 of ${entry.name}`) },
    };
    if (entry.custom !== undefined) {
      // Signatures cover canonical JSON, which has no floats; fail here rather than at signing.
      try {
        canonicalize(entry.custom);
      } catch (error) {
        throw new SihlError(
          'USAGE',
          `custom data of ${entry.name} is not canonical JSON (whole numbers only)`,
          {
            cause: error,
          },
        );
      }
      file.custom = entry.custom as JsonValue;
    }
    targets[entry.name] = file;
  }
  return build(MetadataKind.Targets, {
    _type: 'targets',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(options.version, 'targets'),
    expires: expiresFor('targets', options),
    targets,
  });
}

function metaFile(file: MetaFileDescription, what: string): JsonValue {
  return {
    version: checkVersion(file.version, what),
    length: checkLength(file.length, what),
    hashes: { sha256: checkSha256Hex(file.sha256, `the SHA-256 of ${what}`) },
  };
}

export function makeSnapshot(options: SnapshotOptions): Metadata<Snapshot> {
  return build(MetadataKind.Snapshot, {
    _type: 'snapshot',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(options.version, 'snapshot'),
    expires: expiresFor('snapshot', options),
    meta: { 'targets.json': metaFile(options.targets, 'targets.json') },
  });
}

export function makeTimestamp(options: TimestampOptions): Metadata<Timestamp> {
  return build(MetadataKind.Timestamp, {
    _type: 'timestamp',
    spec_version: TUF_SPEC_VERSION,
    version: checkVersion(options.version, 'timestamp'),
    expires: expiresFor('timestamp', options),
    meta: { 'snapshot.json': metaFile(options.snapshot, 'snapshot.json') },
  });
}

function build(kind: MetadataKind.Root, signed: JsonValue): Metadata<Root>;
function build(kind: MetadataKind.Targets, signed: JsonValue): Metadata<Targets>;
function build(kind: MetadataKind.Snapshot, signed: JsonValue): Metadata<Snapshot>;
function build(kind: MetadataKind.Timestamp, signed: JsonValue): Metadata<Timestamp>;
function build(kind: MetadataKind, signed: JsonValue): AnyMetadata {
  return fromJson(kind, { signed, signatures: [] });
}

function fromJson(kind: MetadataKind, json: JsonValue): AnyMetadata {
  const data = json as Parameters<typeof Metadata.fromJSON>[1];
  switch (kind) {
    case MetadataKind.Root:
      return Metadata.fromJSON(MetadataKind.Root, data);
    case MetadataKind.Targets:
      return Metadata.fromJSON(MetadataKind.Targets, data);
    case MetadataKind.Snapshot:
      return Metadata.fromJSON(MetadataKind.Snapshot, data);
    case MetadataKind.Timestamp:
      return Metadata.fromJSON(MetadataKind.Timestamp, data);
  }
}

/** The bytes served for a metadata file: compact JSON, UTF-8. Other roles' hashes cover these bytes. */
export function serialize(metadata: AnyMetadata): Uint8Array {
  return utf8.encode(JSON.stringify(metadata.toJSON()));
}

/** How a referring role describes `metadata` once it is signed (spec §4.4, §4.6). */
export function metaFileOf(metadata: AnyMetadata): MetaFileDescription {
  const bytes = serialize(metadata);
  return { version: metadata.signed.version, length: bytes.length, sha256: toHex(sha256(bytes)) };
}

export function parseMetadata(kind: 'root', bytes: Uint8Array): Metadata<Root>;
export function parseMetadata(kind: 'targets', bytes: Uint8Array): Metadata<Targets>;
export function parseMetadata(kind: 'snapshot', bytes: Uint8Array): Metadata<Snapshot>;
export function parseMetadata(kind: 'timestamp', bytes: Uint8Array): Metadata<Timestamp>;
export function parseMetadata(kind: (typeof ROLE_NAMES)[number], bytes: Uint8Array): AnyMetadata {
  try {
    const json = JSON.parse(fromUtf8.decode(bytes)) as JsonValue;
    canonicalize(json); // signatures cover canonical JSON: a float here would throw a TypeError later
    return fromJson(KINDS[kind], json);
  } catch (error) {
    throw new SihlError(
      'TUF_METADATA_MALFORMED',
      `not valid TUF ${kind} metadata: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
