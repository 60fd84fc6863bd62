// Publishing to a store devices read directly (Azure Blob Storage, S3, or another folder): publishing
// builds the next version in the workspace's local folder as always, then mirrors it (src/storage/mirror.ts).
// The folder stays the staging copy that the next publication starts from, and what `sihl serve` serves.
// Every use case that changes the store (publish, timestamp refresh, key changes, rollout changes) runs
// inside `mirrored`, so nothing the workspace publishes stays behind in its staging copy, no two run at
// once (publish-lock.ts), and each first clears what an interrupted one left (publish-recovery.ts).
import { resolve } from 'node:path';
import { crashPoint } from '../core/crash-points.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import {
  type Env,
  formatLocation,
  openBlobStore,
  parseStoreLocation,
  type StoreLocation,
} from '../storage/locations.ts';
import { checkNotBehind, type MirrorResult, mirrorStore } from '../storage/mirror.ts';
import { takePublishLock } from './publish-lock.ts';
import { recoverStore } from './publish-recovery.ts';
import type { Workspace } from './workspace.ts';

export interface PublishTarget {
  readonly location: StoreLocation;
  readonly store: BlobStore;
}

export interface Pushed {
  /** The location as text: never holds a credential. */
  readonly location: string;
  readonly uploaded: number;
  readonly unchanged: number;
  readonly bytes: number;
}

/**
 * The store to mirror to after publishing (`override` is a `--store` value, relative to `cwd`), or null
 * when that is the workspace's folder itself. Refuses a store that serves a newer timestamp than the
 * staging copy holds, before anything is built on top of the older copy.
 */
export async function openPublishTarget(
  workspace: Workspace,
  override: string | undefined,
  options: { readonly cwd: string; readonly env: Env },
): Promise<PublishTarget | null> {
  const location =
    override === undefined ? workspace.storeLocation : parseStoreLocation(override, options.cwd);
  if (location.kind === 'local' && resolve(location.path) === resolve(workspace.storeDir)) return null;
  const store = await openBlobStore(location, options.env);
  try {
    await checkNotBehind(workspace.storeDir, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { location, store };
}

/** Uploads what the staging copy holds and the store does not, the timestamp last; closes the store. */
export async function pushToStore(
  workspace: Workspace,
  target: PublishTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<Pushed> {
  let result: MirrorResult;
  try {
    result = await mirrorStore(workspace.storeDir, target.store, onProgress ? { onProgress } : {});
  } finally {
    await target.store.close();
  }
  return {
    location: formatLocation(target.location),
    uploaded: result.uploaded.length,
    unchanged: result.unchanged,
    bytes: result.bytes,
  };
}

/** Where a use case mirrors to after it changed the staging copy, and with which credentials. */
export interface StoreChoice {
  /** A `--store` location instead of sihl.json's "store", relative to `cwd`. */
  readonly store?: string;
  /** Default: the process's working folder. */
  readonly cwd?: string;
  /** Cloud credentials come only from here. Default: the process environment. */
  readonly env?: Env;
  readonly onUpload?: (done: number, total: number) => void;
  /** What the operator should know that is no error: a stale lock taken over, a leftover cleared. */
  readonly onNotice?: (text: string) => void;
}

export type Mirrored<R> = R & { readonly store?: Pushed };

/**
 * Runs `work`, which changes the staging copy, then mirrors the result to the configured store, all
 * under the store's publish lock (shared with the online folder) and after clearing what an interrupted publication left. The store
 * is opened (and checked not to be ahead) before `work`, so a store out of reach changes nothing.
 */
export async function mirrored<R extends object>(
  workspace: Workspace,
  choice: StoreChoice,
  work: () => Promise<R>,
): Promise<Mirrored<R>> {
  const lock = await takePublishLock(workspace.storeDir);
  try {
    if (lock.tookOver) choice.onNotice?.(lock.tookOver);
    await crashPoint('locked');
    const recovered = await recoverStore(workspace.storeDir);
    if (recovered) choice.onNotice?.(recovered);
    return await mirroredLocked(workspace, choice, work);
  } finally {
    await lock.release();
  }
}

async function mirroredLocked<R extends object>(
  workspace: Workspace,
  choice: StoreChoice,
  work: () => Promise<R>,
): Promise<Mirrored<R>> {
  const target = await openPublishTarget(workspace, choice.store, {
    cwd: choice.cwd ?? process.cwd(),
    env: choice.env ?? process.env,
  });
  let result: R;
  try {
    result = await work();
  } catch (error) {
    await target?.store.close();
    throw error;
  }
  await crashPoint('staged');
  if (target === null) return result;
  const store = await pushToStore(workspace, target, choice.onUpload);
  await crashPoint('mirrored');
  return { ...result, store };
}
