// The agent's refresh step (TUF client workflow 5.3 to 5.6): tuf-js walks the metadata from the root this
// device trusts, through the agent's Fetcher (tuf-fetcher.ts), within the agent's own size limits; its
// refusals become sihl codes by class. Also the freeze check a 304 answer needs (TUF §5.4.4's intent).
import { join } from 'node:path';
import { type Config, Updater } from 'tuf-js';
import { SihlError } from '../../core/errors.ts';
import { readSmallFile } from '../../core/fs.ts';
import { agentPaths, keepTrustedRoot, repairTrustedRoot } from './config.ts';
import { AGENT_LIMITS } from './limits.ts';
import type { Transport } from './transport.ts';
import { PinnedFetcher } from './tuf-fetcher.ts';

/** What a refresh leaves: the updater (for target info), its fetcher, and the verified targets. */
export interface Refreshed {
  readonly updater: Updater;
  readonly fetcher: PinnedFetcher;
  readonly targets: Record<string, unknown>;
}

/** tuf-js bounded by the agent's limits, not its defaults; no retries (the agent's schedule retries). */
export const TUF_CONFIG: Partial<Config> = {
  fetchRetry: 0,
  maxRootRotations: AGENT_LIMITS.rootRotations,
  rootMaxLength: AGENT_LIMITS.metadataBytes,
  timestampMaxLength: AGENT_LIMITS.timestampBytes,
  snapshotMaxLength: AGENT_LIMITS.metadataBytes,
  targetsMaxLength: AGENT_LIMITS.metadataBytes,
};

/** The class names of an error, its own first, up to Error: how tuf-js's refusals are told apart. */
function classesOf(error: unknown): string[] {
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(error ?? {}); p && p !== Error.prototype; p = Object.getPrototypeOf(p))
    names.push(p.constructor?.name ?? '');
  return names;
}

/** Whether one of the metadata files fetched in this refresh had expired by `now`. */
function fetchedExpired(fetcher: PinnedFetcher, now: Date): boolean {
  return fetcher.fetched.some((bytes) => {
    try {
      const expires = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { expires?: unknown } })
        .signed?.expires;
      return typeof expires === 'string' && !(Date.parse(expires) > now.getTime());
    } catch {
      return false;
    }
  });
}

/**
 * tuf-js refusals as sihl codes. A transport failure underneath wins over what tuf-js wrapped it in;
 * tuf-js wraps snapshot and targets failures in a RuntimeError that keeps only their text, so whether
 * they had expired is read from what was fetched, never from the text.
 */
export function tufError(error: unknown, fetcher: PinnedFetcher, now: Date = new Date()): SihlError {
  if (error instanceof SihlError) return error;
  if (fetcher.lastError) return fetcher.lastError;
  const message = (error as Error)?.message ?? String(error);
  const classes = classesOf(error);
  if (
    classes.includes('ExpiredMetadataError') ||
    (classes[0] === 'RuntimeError' && fetchedExpired(fetcher, now))
  )
    return new SihlError('TUF_METADATA_EXPIRED', `TUF metadata expired: ${message}`, { cause: error });
  return new SihlError('TUF_METADATA_INCONSISTENT', `TUF metadata refused: ${message}`, { cause: error });
}

/** TUF client workflow 5.3 to 5.6, by tuf-js, from the root this device trusts. */
export async function refreshMetadata(
  client: Transport,
  dir: string,
  timestampUrl: string,
  timestamp: Uint8Array,
): Promise<Refreshed> {
  const paths = agentPaths(dir);
  await repairTrustedRoot(dir);
  const fetcher = new PinnedFetcher(client);
  fetcher.prime(timestampUrl, timestamp);
  const updater = new Updater({
    metadataDir: paths.metadata,
    metadataBaseUrl: client.url('metadata/').href,
    fetcher,
    config: TUF_CONFIG,
  });
  try {
    await updater.refresh();
  } catch (error) {
    throw tufError(error, fetcher);
  }
  await keepTrustedRoot(dir);
  // tuf-js lists no targets: read the targets file it verified and persisted.
  const bytes = await readSmallFile(join(paths.metadata, 'targets.json'), AGENT_LIMITS.metadataBytes);
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { targets?: unknown } };
  const targets = parsed.signed?.targets;
  return {
    updater,
    fetcher,
    targets: typeof targets === 'object' && targets !== null ? (targets as Record<string, unknown>) : {},
  };
}

/** Refuses when a top-level metadata file this device trusts has expired (TUF_METADATA_EXPIRED). */
export async function checkNotExpired(metadataDir: string, now: Date): Promise<void> {
  for (const role of ['timestamp', 'snapshot', 'targets']) {
    let expires: unknown;
    try {
      const text = await readSmallFile(join(metadataDir, `${role}.json`), AGENT_LIMITS.metadataBytes);
      expires = (JSON.parse(new TextDecoder().decode(text)) as { signed?: { expires?: unknown } }).signed
        ?.expires;
    } catch {
      continue; // not there yet (or unreadable): the next full refresh fetches it again
    }
    if (typeof expires === 'string' && !(Date.parse(expires) > now.getTime())) {
      throw new SihlError(
        'TUF_METADATA_EXPIRED',
        `the ${role} metadata this device trusts expired at ${expires}, and the server says nothing changed`,
      );
    }
  }
}
