// Writes a TUF repository into a folder laid out as a static server or object store serves it, with
// consistent snapshots (spec §7): metadata/N.root.json for every root version, metadata/N.targets.json,
// metadata/N.snapshot.json, metadata/timestamp.json, and targets/<sha256>.<name>. Everything but
// timestamp.json is immutable once written; timestamp.json is replaced last, atomically, so a client
// sees the old repository or the new one, never a mix. Only the targets a publication adds are read and
// checked; those the served targets metadata already names are carried over by their signed length and
// hashes, so a halt costs the same with one release published or a hundred, and one image damaged in the
// store (which devices refuse against its signed hashes, and report) never blocks a later publication.
// Asked to check carried targets, it reads only those whose file changed since it was written or last
// found sound (file-record.ts).
import { type FileHandle, mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Metadata, Root, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { crashPoint } from '../../core/crash-points.ts';
import { equalBytes, Sha256, sha256 } from '../../core/crypto/index.ts';
import { naming, SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { targetFilePath as consistentTargetPath } from '../../core/format/target.ts';
import { exists, readSmallFile, writeAtomically, writeFileAtomic } from '../../core/fs.ts';
import { CLIENT_LIMITS, checkRepository, checkRoots, type Repository } from './check-repository.ts';
import { type Clock, systemClock } from './expiry.ts';
import { FileRecord } from './file-record.ts';
import { checkTargetName, parseMetadata, serialize } from './metadata.ts';
import { replaceTimestampFile } from './timestamp-file.ts';

export const METADATA_DIR = 'metadata';
export const TARGETS_DIR = 'targets';
const COPY_CHUNK_BYTES = 1024 * 1024;
/** A ceiling for served snapshot or targets metadata whose referrer states no length. */
const SERVED_METADATA_BYTES = 64 * 1024 * 1024;

/** A target's content: in memory, or a file streamed from disk (firmware can be large). */
export type TargetContent =
  | { readonly name: string; readonly bytes: Uint8Array }
  | { readonly name: string; readonly path: string };

export interface PublishInput extends Repository {
  /** Content for targets not yet in the folder; each must match its entry in `targets`. */
  readonly contents?: readonly TargetContent[];
}

export interface PublishResult {
  /** Paths relative to the folder, in the order they were written. */
  readonly written: string[];
  /** Immutable files that were already there with the same content. */
  readonly unchanged: string[];
  /** Targets the served metadata already names: carried over by their signed length and hashes, unread. */
  readonly carried: string[];
  /** With `checkCarried`: carried-over target files that are missing or no longer match, and why. */
  readonly damaged: { readonly name: string; readonly path: string; readonly problem: string }[];
  /** With `checkCarried`: carried-over target files read and hashed, since they changed or had no record. */
  readonly hashed: string[];
}

export interface PublishOptions {
  readonly now?: Clock;
  /**
   * Also check the targets carried over and report (in `damaged`, never as an error) those whose file
   * is missing or no longer matches its signed length and hashes. A file whose size, times and inode
   * are as recorded when it was written or last found sound is not read (file-record.ts); the others
   * are hashed (listed in `hashed`).
   */
  readonly checkCarried?: boolean;
}

/** Where a target is served under consistent snapshots: its SHA-256 before the file name (spec §5.7.3). */
export function targetFilePath(name: string, sha256Hex: string): string {
  return consistentTargetPath(checkTargetName(name), sha256Hex);
}

export function metadataFilePath(role: 'root' | 'targets' | 'snapshot', version: number): string {
  return `${METADATA_DIR}/${version}.${role}.json`;
}

export const TIMESTAMP_PATH = `${METADATA_DIR}/timestamp.json`;

async function rootVersionsIn(dir: string): Promise<number[]> {
  const names = await readdir(join(dir, METADATA_DIR)).catch(() => [] as string[]);
  return names.flatMap((name) => /^([1-9]\d*)\.root\.json$/.exec(name)?.[1] ?? []).map(Number);
}

async function readMetadata(dir: string, path: string, limit: number): Promise<Uint8Array> {
  return readSmallFile(join(dir, path), limit);
}

/** The published root the new roots must follow, or the current one when no root is being added. */
async function previousRootFor(
  dir: string,
  roots: readonly Metadata<Root>[],
): Promise<Metadata<Root> | undefined> {
  const published = await rootVersionsIn(dir);
  const newest = Math.max(0, ...published);
  const first = roots[0]?.signed.version ?? newest + 1;
  const last = roots.at(-1)?.signed.version ?? newest;
  if (last < newest) {
    throw new SihlError(
      'USAGE',
      `root version ${newest} is already published; publish with it, not version ${last}`,
    );
  }
  if (first === 1) return undefined;
  const path = metadataFilePath('root', first - 1);
  if (!published.includes(first - 1)) {
    throw new SihlError('USAGE', `${path} is not published, so clients cannot reach root version ${first}`);
  }
  return parseMetadata('root', await readMetadata(dir, path, CLIENT_LIMITS.rootBytes));
}

/**
 * Whether an immutable file is already published with these bytes. A different file under the same
 * name is refused: published metadata never changes, so clients that cached it stay consistent.
 */
async function alreadyPublished(dir: string, path: string, bytes: Uint8Array): Promise<boolean> {
  const full = join(dir, path);
  if (!(await exists(full))) return false;
  const same =
    (await stat(full)).size === bytes.length && equalBytes(await readSmallFile(full, bytes.length), bytes);
  if (!same) {
    const message =
      'a different file is already published here; published files never change (if another ' +
      'publication ran at the same time, run the command again to publish on top of it)';
    throw new SihlError('FILE_EXISTS', message, { subject: full });
  }
  return true;
}

/** A file that appeared between the checks and the write: another publication got there first. */
function raced(error: unknown, path: string): unknown {
  if ((error as SihlError).code !== 'FILE_EXISTS') return error;
  return new SihlError(
    'FILE_EXISTS',
    'another publication wrote this metadata version while this one was running; the store holds ' +
      'theirs and nothing refers to this one: run the command again',
    { subject: path, cause: error },
  );
}

async function digestOf(path: string, limit: number): Promise<{ sha256: string; length: number }> {
  const hash = new Sha256();
  const handle = await open(path, 'r').catch((error: unknown) => {
    throw naming(path, error);
  });
  try {
    const buffer = new Uint8Array(COPY_CHUNK_BYTES);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > limit) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return { sha256: toHex(hash.digest()), length };
  } finally {
    await handle.close();
  }
}

function matches(entry: TargetFile, actual: { sha256: string; length: number }): boolean {
  return actual.length === entry.length && actual.sha256 === entry.hashes.sha256;
}

function checkContent(entry: TargetFile, actual: { sha256: string; length: number }, subject: string): void {
  // The same check a client makes on download (spec §5.7.3), made before anything is served.
  if (!matches(entry, actual)) {
    throw new SihlError(
      'PAYLOAD_DIGEST_MISMATCH',
      `content of ${entry.path} does not match its targets entry`,
      {
        subject,
      },
    );
  }
}

/** Copies a file into `destination`, hashing as it goes, and refuses content that does not match `entry`. */
async function copyChecked(source: string, destination: FileHandle, entry: TargetFile): Promise<void> {
  const input = await open(source, 'r').catch((error: unknown) => {
    throw naming(source, error);
  });
  const hash = new Sha256();
  const buffer = new Uint8Array(COPY_CHUNK_BYTES);
  let length = 0;
  try {
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > entry.length) break; // longer than its entry: checkContent refuses it
      hash.update(buffer.subarray(0, bytesRead));
      for (let at = 0; at < bytesRead; ) {
        at += (await destination.write(buffer, at, bytesRead - at)).bytesWritten;
      }
    }
  } finally {
    await input.close();
  }
  checkContent(entry, { sha256: toHex(hash.digest()), length }, source);
}

async function writeTarget(
  dir: string,
  entry: TargetFile,
  content: TargetContent | undefined,
  result: PublishResult,
  record: FileRecord,
): Promise<void> {
  const path = targetFilePath(entry.path, entry.hashes.sha256 ?? '');
  const full = join(dir, path);
  if (await exists(full)) {
    // Content-addressed: a file under this name that hashes differently was damaged or planted.
    checkContent(entry, await digestOf(full, entry.length), full);
    await record.note(path);
    result.unchanged.push(path);
    return;
  }
  if (!content)
    throw new SihlError('USAGE', `no content given for target ${entry.path}, and none is published`);
  await mkdir(dirname(full), { recursive: true });
  if ('bytes' in content) {
    checkContent(entry, { sha256: toHex(sha256(content.bytes)), length: content.bytes.length }, entry.path);
    await writeFileAtomic(full, content.bytes);
  } else {
    await writeAtomically(full, {}, (handle) => copyChecked(content.path, handle, entry));
  }
  await record.note(path);
  result.written.push(path);
  await crashPoint(`wrote ${path}`);
}

/**
 * The targets metadata clients are served now (timestamp.json → its snapshot → its targets), or
 * undefined when nothing is published. Unreadable metadata counts as none: every target is then read
 * and checked, as for a first publication.
 */
async function servedTargets(dir: string): Promise<Metadata<Targets> | undefined> {
  try {
    if (!(await exists(join(dir, TIMESTAMP_PATH)))) return undefined;
    const timestamp = parseMetadata(
      'timestamp',
      await readMetadata(dir, TIMESTAMP_PATH, CLIENT_LIMITS.timestampBytes),
    ).signed.snapshotMeta;
    const snapshotPath = metadataFilePath('snapshot', timestamp.version);
    const snapshot = parseMetadata(
      'snapshot',
      await readMetadata(dir, snapshotPath, timestamp.length ?? SERVED_METADATA_BYTES),
    ).signed.meta['targets.json'];
    if (!snapshot) return undefined;
    const targetsPath = metadataFilePath('targets', snapshot.version);
    return parseMetadata(
      'targets',
      await readMetadata(dir, targetsPath, snapshot.length ?? SERVED_METADATA_BYTES),
    );
  } catch {
    return undefined;
  }
}

/** Whether `served` names `entry` already, with the same length and SHA-256 (so the same file). */
function isServed(served: Metadata<Targets> | undefined, entry: TargetFile): boolean {
  const before = served?.signed.targets[entry.path];
  return (
    before !== undefined && matches(entry, { length: before.length, sha256: before.hashes.sha256 ?? '' })
  );
}

/**
 * A target clients are served already: it stays, named by its signed length and hashes, and is not
 * read. Its file was checked when it was first published; if it was damaged since, devices refuse it
 * against those hashes and report it, and a halt must still go out. With `check`, a file that changed
 * since it was recorded (or has no record) is read, and a mismatch is reported in `result.damaged`,
 * never refused.
 */
async function carryOver(
  dir: string,
  entry: TargetFile,
  check: { record: FileRecord } | undefined,
  result: PublishResult,
): Promise<void> {
  const path = targetFilePath(entry.path, entry.hashes.sha256 ?? '');
  result.carried.push(path);
  if (!check || (await check.record.unchanged(path))) return;
  const full = join(dir, path);
  if (!(await exists(full))) {
    result.damaged.push({ name: entry.path, path, problem: `${full} is missing` });
    return;
  }
  result.hashed.push(path);
  if (matches(entry, await digestOf(full, entry.length))) await check.record.note(path);
  else
    result.damaged.push({
      name: entry.path,
      path,
      problem: `${full} does not match its signed length and SHA-256`,
    });
}

/**
 * Whether timestamp.json needs writing. Throws when the served one is not older, because clients
 * refuse a lower version and ignore a different file under a version they have (spec §5.4.3).
 */
async function timestampChanges(dir: string, timestamp: Metadata<Timestamp>): Promise<boolean> {
  const full = join(dir, TIMESTAMP_PATH);
  if (!(await exists(full))) return true;
  const current = await readMetadata(dir, TIMESTAMP_PATH, CLIENT_LIMITS.timestampBytes);
  if (equalBytes(current, serialize(timestamp))) return false;
  const served = parseMetadata('timestamp', current).signed;
  if (served.version >= timestamp.signed.version) {
    throw new SihlError(
      'USAGE',
      `timestamp version ${served.version} is already published; the new one must be higher, not ` +
        `${timestamp.signed.version} (if another publication ran at the same time, run the command again)`,
    );
  }
  // §5.4.3.2: nor may the snapshot it names go back.
  if (served.snapshotMeta.version > timestamp.signed.snapshotMeta.version) {
    throw new SihlError(
      'USAGE',
      `snapshot version ${served.snapshotMeta.version} is already published; clients refuse version ${timestamp.signed.snapshotMeta.version}`,
    );
  }
  return true;
}

/**
 * Checks `input` as a client would (see checkRepository) against the roots already in `dir`, then
 * writes target contents, new roots, targets, snapshot and finally timestamp.json. Targets the served
 * metadata already names are carried over unread (see carryOver); only new ones are read and checked.
 */
export async function publishRepository(
  dir: string,
  input: PublishInput,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const previousRoot = await previousRootFor(dir, input.roots);
  checkRepository(input, previousRoot, (options.now ?? systemClock)());
  const replaceTimestamp = await timestampChanges(dir, input.timestamp);
  const entries = input.targets.signed.targets;
  const contents = new Map<string, TargetContent>();
  for (const content of input.contents ?? []) {
    if (!Object.hasOwn(entries, content.name))
      throw new SihlError('USAGE', `target ${content.name} is not in the targets metadata`);
    if (contents.has(content.name))
      throw new SihlError('USAGE', `content for ${content.name} is given twice`);
    contents.set(content.name, content);
  }
  // Every refusal happens before the first write; only a concurrent publisher can fail us midway.
  const metadata: [string, Uint8Array][] = [
    ...input.roots.map(
      (root) => [metadataFilePath('root', root.signed.version), serialize(root)] as [string, Uint8Array],
    ),
    [metadataFilePath('targets', input.targets.signed.version), serialize(input.targets)],
    [metadataFilePath('snapshot', input.snapshot.signed.version), serialize(input.snapshot)],
  ];
  const published = await Promise.all(metadata.map(([path, bytes]) => alreadyPublished(dir, path, bytes)));
  const served = await servedTargets(dir);
  const result: PublishResult = { written: [], unchanged: [], carried: [], damaged: [], hashed: [] };
  const record = await FileRecord.load(dir);
  await mkdir(join(dir, METADATA_DIR), { recursive: true });
  for (const entry of Object.values(entries)) {
    if (isServed(served, entry))
      await carryOver(dir, entry, options.checkCarried ? { record } : undefined, result);
    else await writeTarget(dir, entry, contents.get(entry.path), result, record);
  }
  for (const [index, [path, bytes]] of metadata.entries()) {
    if (published[index]) {
      result.unchanged.push(path);
    } else {
      await writeFileAtomic(join(dir, path), bytes).catch((error) => {
        throw raced(error, join(dir, path));
      });
      result.written.push(path);
      await crashPoint(`wrote ${path}`);
    }
  }
  if (replaceTimestamp) {
    await replaceTimestampFile(join(dir, TIMESTAMP_PATH), serialize(input.timestamp));
    result.written.push(TIMESTAMP_PATH);
    await crashPoint(`wrote ${TIMESTAMP_PATH}`);
  } else {
    result.unchanged.push(TIMESTAMP_PATH);
  }
  await record.save(
    new Set(Object.values(entries).map((entry) => targetFilePath(entry.path, entry.hashes.sha256 ?? ''))),
  );
  return result;
}

/**
 * Root versions alone, before any targets are published (`sihl init`, a key rotation before the first
 * release): checked as a client would walk them from the newest root in `dir`, then written.
 */
export async function publishRoots(
  dir: string,
  roots: readonly Metadata<Root>[],
  options: { readonly now?: Clock } = {},
): Promise<PublishResult> {
  const result: PublishResult = { written: [], unchanged: [], carried: [], damaged: [], hashed: [] };
  if (roots.length === 0) return result;
  checkRoots(roots, await previousRootFor(dir, roots), (options.now ?? systemClock)());
  await mkdir(join(dir, METADATA_DIR), { recursive: true });
  for (const root of roots) {
    const path = metadataFilePath('root', root.signed.version);
    const bytes = serialize(root);
    if (await alreadyPublished(dir, path, bytes)) result.unchanged.push(path);
    else {
      await writeFileAtomic(join(dir, path), bytes).catch((error) => {
        throw raced(error, join(dir, path));
      });
      result.written.push(path);
    }
  }
  return result;
}
