// One publication at a time per store: every use case that changes the store (publish, rollout
// changes, timestamp refresh, key changes: cloud-store.ts's `mirrored`) holds .publish.lock in the
// store's local folder (the staging copy) while it runs. The lock lies with the store, not with a
// workspace, because the release manager's workspace and the online folder publish into the same one:
// a lock of each folder's own would let one's recovery remove what the other is writing. Its hidden name
// is never served (request-path.ts, nginx) nor mirrored (local-blob-store.ts lists no hidden names). The lock names its holder; a holder whose process is gone (same host), or
// that stopped touching the lock for LOCK_STALE_MS (any host), is taken over without a manual step, by
// exactly one of the processes that find it stale (removeStale).
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes, sha256 } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { writeFileAtomic } from '../core/fs.ts';

export const LOCK_FILE = '.publish.lock';
/** The holder touches its lock this often ... */
const HEARTBEAT_MS = 30_000;
/** ... and a lock not touched for this long is stale, whoever holds it (another host's too). */
export const LOCK_STALE_MS = 10 * 60_000;
/** A takeover takes milliseconds: a claim on a stale lock left this long is its dead process's. */
const CLAIM_STALE_MS = 60_000;
/** How long to wait for another process that is taking a stale lock over, in pauses of TAKEOVER_WAIT_MS. */
const TAKEOVER_PATIENCE_MS = 10_000;
const TAKEOVER_WAIT_MS = 25;

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

/** A name-safe token for the lock read: its own, or (unreadable or foreign) a digest of its text. */
function tokenOf(info: LockInfo | undefined, text: string): string {
  if (typeof info?.token === 'string' && /^[0-9a-f]{16}$/.test(info.token)) return info.token;
  return toHex(sha256(new TextEncoder().encode(text))).slice(0, 16);
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

/** The lock's text, when it was last touched and which file it is, all of one file (it may be replaced meanwhile). */
async function readLock(
  path: string,
): Promise<{ text: string; touched: number; ino: number; dev: number } | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const { mtimeMs, ino, dev } = await handle.stat();
    return { text: await handle.readFile('utf8'), touched: mtimeMs, ino, dev };
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** A second name of the stale lock of token `token` (a hard link): it stays that file whatever `path` becomes. */
const pinOf = (path: string, token: string) => `${path}.${token}`;
const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * Removes the stale lock `judged` (token `token`) if this process is the one that claims it. The lock is
 * pinned under a name of its own (`pinOf`, a hard link, so it cannot be mistaken for a newer lock), and
 * `${pin}.claim` is created exclusively: of any number of processes that judged it stale, one claims
 * it at a time, and only that one removes the lock, and only while the store's lock is still that very
 * file (same inode as the pin). Nothing is ever renamed onto the lock's name, and the new lock is made
 * with an exclusive link (writeFileAtomic), so no lock made meanwhile by another process is replaced or
 * removed. A claim left by a process killed mid-way is set aside after CLAIM_STALE_MS. True when this
 * process claimed it (and it is gone).
 */
async function removeStale(path: string, judged: string, token: string, mine: string): Promise<boolean> {
  const pin = pinOf(path, token);
  await link(path, pin).catch((error) => {
    if (errnoOf(error) !== 'EEXIST' && errnoOf(error) !== 'ENOENT') throw error;
  });
  const pinned = await readFile(pin, 'utf8').catch(() => undefined);
  if (pinned !== judged) {
    // A newer lock linked after the stale one went (never the stale one itself): not ours to keep.
    if (pinned !== undefined) await rm(pin, { force: true });
    return false;
  }
  const claim = `${pin}.claim`;
  if (!(await claimOnce(claim, mine))) return false;
  try {
    // Read again under the claim: another claimant may have finished and a newer lock been pinned since.
    const stale = await readLock(pin);
    if (stale?.text !== judged) return false;
    const held = await stat(path).catch(() => undefined);
    if (held !== undefined && held.ino === stale.ino && held.dev === stale.dev)
      await rm(path, { force: true });
    return true;
  } finally {
    await rm(pin, { force: true });
    await rm(claim, { force: true });
  }
}

/** Creates `claim` if no process has; a claim untouched for CLAIM_STALE_MS is its dead process's, set aside. */
async function claimOnce(claim: string, mine: string): Promise<boolean> {
  for (let round = 0; round < 2; round++) {
    try {
      await writeFile(claim, mine, { flag: 'wx' });
      return true;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
    const left = await stat(claim).catch(() => undefined);
    if (left !== undefined && Date.now() - left.mtimeMs < CLAIM_STALE_MS) return false;
    // Renamed to a name of this process's own first, so only one process sets a given claim aside.
    const aside = `${claim}.${mine}`;
    const setAside =
      left === undefined ||
      (await rename(claim, aside).then(
        () => true,
        () => false,
      ));
    if (!setAside) return false;
    await rm(aside, { force: true });
  }
  return false;
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
  const giveUpAt = Date.now() + TAKEOVER_PATIENCE_MS;
  for (;;) {
    try {
      // Linked into place: fails if any lock is there, never replaces one.
      await writeFileAtomic(path, text);
      break;
    } catch (error) {
      if ((error as SihlError).code !== 'FILE_EXISTS') throw error;
    }
    const read = await readLock(path);
    if (read === undefined) {
      if (Date.now() > giveUpAt) throw busy(undefined, path);
      continue;
    }
    const { text: judged, touched } = read;
    const held = parse(judged);
    const why = staleness(held, touched, Date.now());
    if (why === undefined || Date.now() > giveUpAt) throw busy(held, path);
    if (!(await removeStale(path, judged, tokenOf(held, judged), info.token))) {
      // Another process is taking it over: its lock appears in a moment, and is then live.
      await sleep(TAKEOVER_WAIT_MS);
      continue;
    }
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
