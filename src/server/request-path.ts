// Maps a request target to a file path inside the store, refusing anything that could leave it
// (docs/SERVER.md §Paths). Checked on the raw and on the decoded form, so encodings do not slip through.
import { join } from 'node:path';

/** A resolved file, or why not: 400 for a request target that is not a clean path, 404 for a hidden one. */
export type PathResult =
  | { readonly ok: true; readonly path: string; readonly segments: readonly string[] }
  | { readonly ok: false; readonly status: 400 | 404 };

/** Names that stores hold; hidden files (.tmp files of atomic writes, dotfiles) and `..` never match. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;
const MAX_TARGET = 2048;
const MAX_DEPTH = 16;

export function resolveRequestPath(root: string, target: string): PathResult {
  if (target.length > MAX_TARGET || target[0] !== '/') return { ok: false, status: 400 };
  const query = target.indexOf('?');
  const raw = query === -1 ? target : target.slice(0, query);
  // Backslashes and NUL, raw or encoded, are never part of a store path.
  if (/[\\\0]|%(?:00|5c)/i.test(raw)) return { ok: false, status: 400 };
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { ok: false, status: 400 };
  }
  if (/[\\\0%]/.test(decoded)) return { ok: false, status: 400 };
  const segments = decoded.slice(1).split('/');
  if (segments.length > MAX_DEPTH) return { ok: false, status: 404 };
  // Empty segments (directories, "//"), "." and ".." and hidden names all fail the pattern.
  for (const segment of segments) if (!SEGMENT.test(segment)) return { ok: false, status: 404 };
  return { ok: true, path: join(root, ...segments), segments };
}
