// Workspaces made through the library with their root keys outside them, as `sihl init --root-dir` makes
// them: the root private keys in `ROOT-DIR` beside the workspace, opened here when a root operation needs them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SigningKey } from '../../src/core/crypto/index.ts';
import { openSigningKey } from '../../src/core/keys.ts';
import { type InitOptions, initWorkspace } from '../../src/publisher/setup.ts';
import type { Workspace } from '../../src/publisher/workspace.ts';

/** The folder init puts `dir`'s root keys in. */
export const rootDirOf = (dir: string) => `${dir}-root`;

/** `initWorkspace(dir)` with the root keys in `dir`-root. */
export function initOffline(dir: string, options: Omit<InitOptions, 'rootDirs'>): Promise<Workspace> {
  return initWorkspace(dir, { ...options, rootDirs: [rootDirOf(dir)] });
}

/** A threshold of the workspace's root keys, opened from their folder outside it with `passphrase`. */
export async function rootKeysOf(workspace: Workspace, passphrase: string): Promise<SigningKey[]> {
  const { keys, threshold } = workspace.config.roles.root;
  const out: SigningKey[] = [];
  for (const name of keys.slice(0, threshold)) {
    const bytes = new Uint8Array(await readFile(join(rootDirOf(workspace.dir), `${name}.key`)));
    out.push(await openSigningKey(bytes, passphrase));
  }
  return out;
}
