// Who may use the console (docs/CONSOLE.md §Access): operators holding the workspace's operator token
// (console/operator.token, mode 0600, made on first serve). The login form trades it for a session
// cookie (HttpOnly, Secure, SameSite=Strict, path /console); scripts may send it as a bearer token.
// Every state-changing form carries the session's CSRF token. Device credentials (signed reports) are
// never a way in: nothing here looks at them.
import { mkdir, readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { type Clock, systemClock } from '../../core/clock.ts';
import { equalBytes, randomBytes, sha256 } from '../../core/crypto/index.ts';
import { naming } from '../../core/errors.ts';
import { utf8 } from '../../core/format/bytes.ts';
import { writeFileAtomic } from '../../core/fs.ts';

export const COOKIE = 'sihl_console';
export const SESSION_SECONDS = 8 * 3600;
/** Sessions kept at once; the oldest goes first. */
const SESSIONS_MAX = 1_000;

export function tokenPath(workspaceDir: string): string {
  return join(workspaceDir, 'console', 'operator.token');
}

const fresh = (bytes: number) => Buffer.from(randomBytes(bytes)).toString('base64url');

/** The workspace's operator token, made (mode 0600) if there is none yet. */
export async function ensureOperatorToken(workspaceDir: string): Promise<{ token: string; path: string }> {
  const path = tokenPath(workspaceDir);
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length >= 32) return { token, path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw naming(path, error);
  }
  const token = fresh(32);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${token}\n`, { mode: 0o600, overwrite: true });
  return { token, path };
}

/** Equal texts, compared in constant time over their digests. */
function same(a: string, b: string): boolean {
  return equalBytes(sha256(utf8.encode(a)), sha256(utf8.encode(b)));
}

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expires: number;
}

export function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return out;
}

export class OperatorAuth {
  readonly #token: string;
  readonly #now: Clock;
  readonly #sessions = new Map<string, Session>();

  constructor(token: string, now: Clock = systemClock) {
    this.#token = token;
    this.#now = now;
  }

  /** A new session if `token` is the operator token. */
  login(token: string): Session | undefined {
    if (!same(token.trim(), this.#token)) return undefined;
    if (this.#sessions.size >= SESSIONS_MAX)
      this.#sessions.delete(this.#sessions.keys().next().value as string);
    const session = {
      id: fresh(32),
      csrf: fresh(24),
      expires: this.#now().getTime() + SESSION_SECONDS * 1000,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  logout(session: Session): void {
    this.#sessions.delete(session.id);
  }

  /** The session of the request's cookie, if valid. */
  session(req: IncomingMessage): Session | undefined {
    const id = cookiesOf(req).get(COOKIE);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expires <= this.#now().getTime()) {
      this.#sessions.delete(session.id);
      return undefined;
    }
    return session;
  }

  /** Whether the request carries `Authorization: Bearer <operator token>`. */
  bearer(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    return header.startsWith('Bearer ') && same(header.slice(7), this.#token);
  }

  cookie(session: Session): string {
    return `${COOKIE}=${session.id}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=${SESSION_SECONDS}`;
  }

  static clearCookie(): string {
    return `${COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
  }

  /** A form's CSRF token matches its session (constant time). */
  static csrfOk(session: Session, sent: string | undefined): boolean {
    return sent !== undefined && same(sent, session.csrf);
  }
}
