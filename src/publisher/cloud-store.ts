// Publishing to a store devices read directly (Azure Blob Storage, S3, or another folder): publishing
// builds the next version in the workspace's local folder as always, then mirrors it (src/storage/mirror.ts).
// The folder stays the staging copy that the next publication starts from, and what `sihl serve` serves.
import { resolve } from 'node:path';
import type { BlobStore } from '../storage/blob-store.ts';
import {
  type Env,
  formatLocation,
  openBlobStore,
  parseStoreLocation,
  type StoreLocation,
} from '../storage/locations.ts';
import { checkNotBehind, type MirrorResult, mirrorStore } from '../storage/mirror.ts';
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
