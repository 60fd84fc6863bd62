// What an interrupted publication leaves in the staging copy, and its clean-up. Publishing writes in an
// order that keeps the store consistent for devices at every step (docs/ROLLOUTS.md §Interrupted
// publications): envelope and credential tables, then the image, then N.targets.json, N.snapshot.json,
// and last timestamp.json, which alone makes the new versions visible. So the leftover of a run that
// died is exactly what timestamp → snapshot → targets do not reach: metadata versions above the ones
// referenced, images and tables no entry names, and temporary files. The next publication (under the
// publish lock) removes them, rolling the unfinished one back; a run that got as far as timestamp.json
// had finished, and what it left (old tables, the mirror) is finished by the next one.
import type { Dirent } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { targetFilePath } from '../core/format/target.ts';
import { readPublished, targetEntries } from './published.ts';
import { parseMetadata } from './tuf/metadata.ts';
import { METADATA_DIR, metadataFilePath, TARGETS_DIR } from './tuf/publish.ts';

/** Names writeAtomically gives its temporary files (src/core/fs.ts). */
const TEMPORARY = /^\..+\.[0-9a-f]{12}\.tmp$/;
const RELEASES_DIR = 'releases';

async function entriesOf(dir: string): Promise<Dirent[]> {
  return readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
}

/** Files under `rel` (relative to `store`), recursively, as store-relative paths with '/'. */
async function filesUnder(store: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await entriesOf(join(store, rel))) {
    const path = `${rel}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await filesUnder(store, path)));
    else out.push(path);
  }
  return out;
}

/** Everything under `rel` that is neither inside nor on the way to a folder in `keep` (each ending in '/'). */
async function unkept(store: string, rel: string, keep: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await entriesOf(join(store, rel))) {
    const path = `${rel}/${entry.name}`;
    if (keep.some((folder) => `${path}/`.startsWith(folder))) continue;
    if (entry.isDirectory() && keep.some((folder) => folder.startsWith(`${path}/`))) {
      out.push(...(await unkept(store, path, keep)));
    } else if (!entry.isDirectory() || (await filesUnder(store, path)).length > 0) {
      // An empty folder is what a finished rollout change leaves (it removes the tables, not their
      // folder): nothing to serve, nothing to tell.
      out.push(path);
    }
  }
  return out;
}

/** The version of each role's metadata the published snapshot names (targets and delegations), and its own. */
async function referencedVersions(store: string, snapshotVersion: number): Promise<Map<string, number>> {
  const versions = new Map([['snapshot', snapshotVersion]]);
  if (snapshotVersion === 0) return versions;
  const path = join(store, ...metadataFilePath('snapshot', snapshotVersion).split('/'));
  // The staging copy's own snapshot, which readPublished just read whole too.
  const snapshot = parseMetadata('snapshot', new Uint8Array(await readFile(path)));
  for (const [name, meta] of Object.entries(snapshot.signed.meta))
    versions.set(name.replace(/\.json$/, ''), meta.version);
  return versions;
}

/** Store-relative paths that the published metadata does not lead to and a publication may have left. */
export async function leftovers(store: string): Promise<string[]> {
  const published = await readPublished(store);
  const referenced = await referencedVersions(store, published.snapshotVersion);
  const found: string[] = [];
  for (const entry of await entriesOf(join(store, METADATA_DIR))) {
    // Roots stay: a client fetches N+1.root.json without being led to it, so one may have seen it.
    const m = /^([1-9]\d*)\.(.+)\.json$/.exec(entry.name);
    const role = m?.[2];
    const above = m !== null && role !== 'root' && Number(m[1]) > (referenced.get(role as string) ?? 0);
    if (above || TEMPORARY.test(entry.name)) found.push(`${METADATA_DIR}/${entry.name}`);
  }
  const entries = targetEntries(published.targets);
  const images = new Set(entries.map((e) => targetFilePath(e.name, e.sha256)));
  for (const path of await filesUnder(store, TARGETS_DIR)) if (!images.has(path)) found.push(path);
  // A halted entry still names its old tables, which the halt deleted: only live entries keep theirs.
  const tables = entries.flatMap((e) => {
    const c = e.custom ?? {};
    if (c.halted === true) return [];
    return [c.envelopes, c.credentials].filter((f): f is string => typeof f === 'string');
  });
  const keep = tables.map((folder) => (folder.endsWith('/') ? folder : `${folder}/`));
  found.push(...(await unkept(store, RELEASES_DIR, keep)));
  return found.sort();
}

/**
 * Removes what an interrupted publication left (see `leftovers`). Returns a sentence for the operator
 * when there was something, else undefined.
 */
export async function recoverStore(store: string): Promise<string | undefined> {
  const found = await leftovers(store);
  if (found.length === 0) return undefined;
  for (const path of found) await rm(join(store, ...path.split('/')), { recursive: true, force: true });
  const shown = found.slice(0, 5).join(', ') + (found.length > 5 ? `, and ${found.length - 5} more` : '');
  return `an earlier publication was interrupted; removed what no published metadata refers to: ${shown}`;
}
