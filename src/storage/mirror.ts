// Mirrors a repository folder (the staging copy publishing builds) to a blob store that devices read
// directly. Immutable files go up first, each only if it is not there yet; metadata/timestamp.json goes up
// last, so a device that sees the new timestamp finds everything it leads to already in place.
import { join } from 'node:path';
import { crashPoint } from '../core/crash-points.ts';
import { SihlError } from '../core/errors.ts';
import {
  type BlobInfo,
  type BlobStore,
  DEFAULT_CONTENT_TYPE,
  type PutOptions,
  readBlob,
} from './blob-store.ts';
import { openLocalBlobStore } from './local-blob-store.ts';

/** The one file that changes in place; everything else in a repository is written once. */
export const MUTABLE_KEY = 'metadata/timestamp.json';
const TIMESTAMP_MAX_BYTES = 16 * 1024;
/** Small files go up this many at a time; large ones are split into parallel blocks by the adapter. */
const PARALLEL_SMALL = 8;
const SMALL_BYTES = 1024 * 1024;
// Behind a CDN: immutable files may be cached for good, the timestamp must be asked for every poll.
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
const MUTABLE_CACHE = 'no-cache';

export interface MirrorOptions {
  /** Bytes uploaded so far of all that need uploading. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface MirrorResult {
  /** Keys uploaded, in the order they became visible. */
  readonly uploaded: string[];
  /** Files that were already in the store. */
  readonly unchanged: number;
  readonly bytes: number;
}

/**
 * Upload order: images and envelope tables, then versioned targets and snapshot metadata, then new
 * roots (a device that follows a new root before the new timestamp would refuse the old one), and last
 * the timestamp.
 */
function rank(key: string): number {
  if (key === MUTABLE_KEY) return 3;
  if (/^metadata\/\d+\.root\.json$/.test(key)) return 2;
  if (key.startsWith('metadata/')) return 1;
  return 0;
}

function contentTypeOf(key: string): string {
  return key.endsWith('.json') ? 'application/json' : DEFAULT_CONTENT_TYPE;
}

function timestampVersion(bytes: Uint8Array | null): number {
  if (bytes === null) return 0;
  try {
    const version = JSON.parse(Buffer.from(bytes).toString('utf8'))?.signed?.version;
    return Number.isSafeInteger(version) ? version : 0;
  } catch {
    return 0;
  }
}

async function listAll(store: BlobStore): Promise<Map<string, BlobInfo>> {
  const all = new Map<string, BlobInfo>();
  for await (const info of store.list('')) all.set(info.key, info);
  return all;
}

/**
 * Refuses (FILE_EXISTS) when the store serves a newer timestamp than the folder holds: someone else
 * published there, and publishing on top of this older copy would fork the repository. Call it before
 * building the next version in the folder.
 */
export async function checkNotBehind(dir: string, store: BlobStore): Promise<void> {
  const local = await readBlob(openLocalBlobStore(dir), MUTABLE_KEY, TIMESTAMP_MAX_BYTES);
  refuseNewer(await readBlob(store, MUTABLE_KEY, TIMESTAMP_MAX_BYTES), local);
}

function refuseNewer(remote: Uint8Array | null, local: Uint8Array | null): void {
  const [theirs, ours] = [timestampVersion(remote), timestampVersion(local)];
  if (theirs > ours) {
    throw new SihlError(
      'FILE_EXISTS',
      `the store serves timestamp version ${theirs}, newer than version ${ours} of the staging copy; publish from the workspace that published it`,
      { subject: MUTABLE_KEY },
    );
  }
  // Another staging copy published the same versions: the store's metadata files of those versions
  // (compared by size only) are not this copy's, and a timestamp over them would strand devices.
  if (theirs === ours && theirs > 0 && remote && local && Buffer.compare(remote, local) !== 0) {
    throw new SihlError(
      'FILE_EXISTS',
      `the store serves another timestamp of version ${theirs} than the staging copy holds: another staging copy published to it; publish from the workspace that published it`,
      { subject: MUTABLE_KEY },
    );
  }
}

/** What a mirror will do, decided before any upload: every refusal comes first. */
export interface MirrorPlan {
  /** Immutable files the store lacks. */
  readonly todo: readonly BlobInfo[];
  /** Files already there (the timestamp among them when it is the same). */
  readonly unchanged: number;
  readonly timestampChanged: boolean;
  /** Bytes to upload. */
  readonly total: number;
}

/** Pure over the two listings and timestamps: refuses a newer remote timestamp or a changed file. */
export function planMirror(
  local: readonly BlobInfo[],
  remote: ReadonlyMap<string, BlobInfo>,
  localTimestamp: Uint8Array | null,
  remoteTimestamp: Uint8Array | null,
): MirrorPlan {
  refuseNewer(remoteTimestamp, localTimestamp);
  const todo: BlobInfo[] = [];
  let unchanged = 0;
  for (const file of local) {
    if (file.key === MUTABLE_KEY) continue;
    const there = remote.get(file.key);
    if (there === undefined) todo.push(file);
    else if (there.size === file.size) unchanged++;
    else {
      throw new SihlError(
        'FILE_EXISTS',
        `the store holds another file of ${there.size} bytes here, not ${file.size}; published files never change`,
        { subject: file.key },
      );
    }
  }
  const timestampChanged =
    localTimestamp !== null &&
    (remoteTimestamp === null || Buffer.compare(localTimestamp, remoteTimestamp) !== 0);
  if (localTimestamp !== null && !timestampChanged) unchanged++;
  const total =
    todo.reduce((sum, file) => sum + file.size, 0) + (timestampChanged ? (localTimestamp?.length ?? 0) : 0);
  return { todo, unchanged, timestampChanged, total };
}

/** Uploads files of `dir`, counting bytes across parallel uploads for one progress figure. */
function uploader(dir: string, store: BlobStore, total: number, options: MirrorOptions) {
  const state = { done: 0, uploaded: [] as string[] };
  const inFlight = new Map<string, number>();
  const progress = () => {
    let sum = state.done;
    for (const bytes of inFlight.values()) sum += bytes;
    options.onProgress?.(sum, total);
  };
  const upload = async (file: BlobInfo) => {
    const put: PutOptions = {
      contentType: contentTypeOf(file.key),
      cacheControl: IMMUTABLE_CACHE,
      ifNoneMatch: '*',
      onProgress: (bytes) => {
        inFlight.set(file.key, bytes);
        progress();
      },
    };
    try {
      await store.put(file.key, { path: join(dir, ...file.key.split('/')) }, put);
    } catch (error) {
      // Another mirror of the same folder got there first: the same file, if the size says so.
      if (!(error instanceof SihlError && error.code === 'FILE_EXISTS')) throw error;
      const there = await store.head(file.key);
      if (there?.size !== file.size) throw error;
    }
    inFlight.delete(file.key);
    state.done += file.size;
    state.uploaded.push(file.key);
    progress();
  };
  return { state, upload, progress };
}

/**
 * Makes `store` serve what folder `dir` holds. Files already in the store with the same size are left
 * alone; one with another size is refused before anything is uploaded (published files never change).
 * An interrupted mirror is completed by the next one.
 */
export async function mirrorStore(
  dir: string,
  store: BlobStore,
  options: MirrorOptions = {},
): Promise<MirrorResult> {
  const local = [...(await listAll(openLocalBlobStore(dir))).values()];
  const remote = await listAll(store);
  const localTimestamp = await readBlob(openLocalBlobStore(dir), MUTABLE_KEY, TIMESTAMP_MAX_BYTES);
  const remoteTimestamp = remote.has(MUTABLE_KEY)
    ? await readBlob(store, MUTABLE_KEY, TIMESTAMP_MAX_BYTES)
    : null;
  const plan = planMirror(local, remote, localTimestamp, remoteTimestamp);
  const { state, upload, progress } = uploader(dir, store, plan.total, options);
  for (const level of [0, 1, 2]) {
    const files = plan.todo
      .filter((file) => rank(file.key) === level)
      .sort((a, b) => a.key.localeCompare(b.key));
    // Large files one after the other (the adapters upload their blocks in parallel), small ones in a pool.
    for (const file of files.filter((f) => f.size > SMALL_BYTES)) await upload(file);
    const small = files.filter((f) => f.size <= SMALL_BYTES);
    const workers = Array.from({ length: Math.min(PARALLEL_SMALL, small.length) }, async () => {
      for (let file = small.shift(); file !== undefined; file = small.shift()) await upload(file);
    });
    await Promise.all(workers);
    await crashPoint(`mirrored level ${level}`);
  }
  if (plan.timestampChanged && localTimestamp !== null) {
    await store.put(MUTABLE_KEY, localTimestamp, {
      contentType: 'application/json',
      cacheControl: MUTABLE_CACHE,
    });
    state.done += localTimestamp.length;
    state.uploaded.push(MUTABLE_KEY);
    progress();
  }
  return { uploaded: state.uploaded, unchanged: plan.unchanged, bytes: state.done };
}
