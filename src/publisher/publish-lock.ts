// One publication at a time per store: every use case that changes the store (publish, rollout
// changes, timestamp refresh, key changes: cloud-store.ts's `mirrored`) holds .publish.lock in the
// store's local folder (the staging copy) while it runs. The lock lies with the store, not with a
// workspace, because the release manager's workspace and the online folder publish into the same one:
// a lock of each folder's own would let one's recovery remove what the other is writing. Its hidden name
// is never served (request-path.ts, nginx) nor mirrored (local-blob-store.ts lists no hidden names). The lock names its holder; a holder whose process is gone (same host), or
// that stopped touching the lock for LOCK_STALE_MS (any host), is taken over without a manual step.
import { mkdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { writeFileAtomic } from '../core/fs.ts';

export const LOCK_FILE = '.publish.lock';
/** The holder touches its lock this often ... */
const HEARTBEAT_MS = 30_000;
/** ... and a lock not touched for this long is stale, whoever holds it (another host's too). */
export const LOCK_STALE_MS = 10 * 60_000;

interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
  readonly token: string;
}

export interface PublishLock {
  /** What was taken over, for the operator: the holder that was gone. */
  readonly tookOver: string | undefined;
  release(): Promise<void>;
}

function parse(text: string): LockInfo | undefined {
  try {
    const info = JSON.parse(text) as LockInfo;
    const ok =
      Number.isSafeInteger(info.pid) && typeof info.host === 'string' && typeof info.since === 'string';
    return ok ? info : undefined;
  } catch {
    return undefined;
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Why the lock `info` (touched at `touched`) may be taken over, or undefined while its holder lives. */
export function staleness(info: LockInfo | undefined, touched: number, now: number): string | undefined {
  if (info === undefined) return 'the lock file is unreadable';
  if (info.host === hostname() && processGone(info.pid)) return 'its process is gone';
  const idle = now - touched;
  if (idle >= LOCK_STALE_MS) return `it was not touched for ${Math.floor(idle / 60_000)} minutes`;
  return undefined;
}

function busy(info: LockInfo | undefined, path: string): SihlError {
  const who = info ? `since ${info.since} (pid ${info.pid} on ${info.host})` : '';
  return new SihlError(
    'PUBLISH_LOCKED',
    `another publish is running ${who}; wait for it to end, then run the command again (a lock whose ` +
      `process is gone, or untouched for ${LOCK_STALE_MS / 60_000} minutes, is taken over by itself)`,
    { subject: path },
  );
}

/**
 * Moves the stale lock aside and checks that it was the one judged stale (not a fresh lock another
 * process made meanwhile, which goes back). True when it is gone.
 */
async function removeStale(path: string, judged: string, token: string): Promise<boolean> {
  const aside = `${path}.${token}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  const moved = await readFile(aside, 'utf8');
  if (moved !== judged) {
    await rename(aside, path).catch(() => {});
    return false;
  }
  await rm(aside, { force: true });
  return true;
}

/**
 * Takes the publish lock of the store whose local folder is `dir`, taking over a stale one; refuses
 * (PUBLISH_LOCKED) a live one.
 */
export async function takePublishLock(dir: string): Promise<PublishLock> {
  await mkdir(dir, { recursive: true }).catch((error) => Promise.reject(naming(dir, error)));
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    token: toHex(randomBytes(8)),
  };
  const text = `${JSON.stringify(info)}\n`;
  let tookOver: string | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFileAtomic(path, text);
      break;
    } catch (error) {
      if ((error as SihlError).code !== 'FILE_EXISTS' || attempt >= 3) throw error;
    }
    const judged = await readFile(path, 'utf8').catch(() => undefined);
    if (judged === undefined) continue;
    const held = parse(judged);
    const touched = (await stat(path).catch(() => undefined))?.mtimeMs ?? 0;
    const why = staleness(held, touched, Date.now());
    if (why === undefined || !(await removeStale(path, judged, info.token))) throw busy(held, path);
    const who = held ? `pid ${held.pid} on ${held.host}, since ${held.since}` : 'unreadable';
    tookOver = `took over the publish lock (${who}): ${why}`;
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    tookOver,
    async release() {
      clearInterval(heartbeat);
      const now = await readFile(path, 'utf8').catch(() => undefined);
      if (now === text) await rm(path, { force: true });
    },
  };
}
