// Root keys live off the workspace (docs/WORKSPACE.md §Root keys, docs/THREATS.md §Keys). `init` writes
// their private files into folders the operator names outside the workspace (removable media, one per
// custodian) or keeps root on a token; the workspace keeps only their public halves. Every root operation
// is handed its root keys (key files from anywhere, or tokens) and matches them to the workspace's root
// public keys by key id. A root private key found in the workspace's keys/ is refused.
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { equalBytes, keyIdOf, type SigningKey } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { readPrivateKeyFile, readSmallFile } from '../core/fs.ts';
import { openSigningKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { namedKeys } from './role-keys.ts';
import { type RoleConfig, realPathOf, type Workspace, within } from './workspace.ts';

/** A root key as the workspace knows it: its name and public key. */
export interface RootKey {
  readonly name: string;
  readonly publicKey: Uint8Array;
}

/** A root key set: the keys and how many of them must sign. */
export interface RootSet {
  readonly threshold: number;
  readonly keys: readonly RootKey[];
}

/** Refuses a folder for root private keys that is the workspace or inside it. */
export async function checkOutsideWorkspace(workspaceDir: string, dir: string): Promise<void> {
  if (within(await realPathOf(dir), await realPathOf(workspaceDir))) {
    throw new SihlError(
      'KEY_FILE_MISPLACED',
      `root private keys may not be kept in the workspace ${resolve(workspaceDir)}: name a folder outside it, such as removable media`,
      { subject: resolve(dir) },
    );
  }
}

/** The workspace's root keys (or those of `roles` after a change), by name. */
export async function rootSet(workspace: Workspace, root: RoleConfig = workspace.config.roles.root) {
  const keys: RootKey[] = await namedKeys(workspace, root);
  return { threshold: root.threshold, keys } satisfies RootSet;
}

function signingKeyIn(bytes: Uint8Array): Uint8Array | undefined {
  try {
    const record = JSON.parse(new TextDecoder().decode(bytes));
    if (record?.sihl !== 'private-key' || typeof record.sign !== 'string') return undefined;
    return new Uint8Array(Buffer.from(record.sign, 'base64'));
  } catch {
    return undefined;
  }
}

const MISPLACED =
  'a root private key does not belong in the workspace: move it to offline storage (removable media or ' +
  'the custodian who holds it) and pass it with --root-key when a root operation needs it';

/**
 * Refuses a workspace whose keys/ (or keys/pending/) holds a root private key file, under any name, or a
 * root key's token reference: root keys are handed to each root operation, never read from here.
 */
export async function refuseMisplacedRootKeys(workspace: Workspace): Promise<void> {
  const { keys: roots } = await rootSet(workspace);
  for (const folder of [join(workspace.dir, 'keys'), join(workspace.dir, 'keys', 'pending')]) {
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      continue;
    }
    for (const file of names.sort()) {
      const path = join(folder, file);
      const stem = file.replace(/\.(key|pkcs11)$/, '');
      if (stem === file) continue;
      let misplaced = file.endsWith('.pkcs11') && roots.some((r) => r.name === stem);
      if (file.endsWith('.key')) {
        const key = signingKeyIn(
          await readSmallFile(path, LIMITS.keyFileBytes).catch(() => new Uint8Array()),
        );
        misplaced = key !== undefined && roots.some((r) => equalBytes(r.publicKey, key));
      }
      if (misplaced) throw new SihlError('KEY_FILE_MISPLACED', MISPLACED, { subject: path });
    }
  }
}

/**
 * Checks keys handed to a root operation: each one of `allowed` (the root keys before or after the
 * change), none twice, none read from inside the workspace (`paths`, where they came from files).
 */
export function checkGivenRootKeys(given: readonly SigningKey[], allowed: readonly RootKey[]): void {
  const seen: Uint8Array[] = [];
  for (const key of given) {
    const { publicKey } = key;
    if (seen.some((k) => equalBytes(k, publicKey))) {
      throw new SihlError('USAGE', `the root key ${shortId(publicKey)} is given twice`);
    }
    seen.push(publicKey);
    if (!allowed.some((r) => equalBytes(r.publicKey, publicKey))) {
      throw new SihlError(
        'SIGNATURE_UNKNOWN_KEY',
        `the key ${shortId(publicKey)} is not a root key of this workspace (${allowed.map(describe).join(', ')})`,
      );
    }
  }
}

export function shortId(publicKey: Uint8Array): string {
  return `${toHex(keyIdOf(publicKey)).slice(0, 16)}…`;
}

function describe(key: RootKey): string {
  return `${key.name} ${shortId(key.publicKey)}`;
}

/** The keys of `set` among `given`. */
export function keysOf(set: RootSet, given: readonly SigningKey[]): SigningKey[] {
  return given.filter((key) => set.keys.some((r) => equalBytes(r.publicKey, key.publicKey)));
}

/** Refuses to go on unless `given` holds a threshold of `set` (for one-command changes). */
export function requireThreshold(set: RootSet, given: readonly SigningKey[], which: string): void {
  const count = keysOf(set, given).length;
  if (count >= set.threshold) return;
  throw new SihlError(
    'USAGE',
    `this change must be signed by ${set.threshold} of the ${which} root keys (${set.keys.map(describe).join(', ')}); ` +
      `${count} given: pass --root-key FILE|URI for each (from offline storage or a token), ` +
      'or plan the change with --ceremony FILE for the root key holders to sign in turn',
  );
}

/** Opens a root private key file kept outside the workspace; refuses one inside it. */
export async function openRootKeyFile(
  workspaceDir: string | undefined,
  path: string,
  passphrase: (name: string) => Promise<string>,
): Promise<SigningKey> {
  try {
    if (workspaceDir && within(await realPathOf(path), await realPathOf(workspaceDir))) {
      throw new SihlError('KEY_FILE_MISPLACED', MISPLACED);
    }
    const bytes = await readPrivateKeyFile(path, LIMITS.keyFileBytes);
    return await openSigningKey(bytes, await passphrase(keyNameIn(bytes, path)));
  } catch (error) {
    throw naming(path, error);
  }
}

/** The name a private key file records (root-2), else its file name's stem. */
export function keyNameIn(bytes: Uint8Array, path: string): string {
  try {
    const name = JSON.parse(new TextDecoder().decode(bytes))?.name;
    if (typeof name === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(name)) return name;
  } catch {}
  return basename(path).replace(/\.key$/, '');
}
