// Which keys a serving host may hold (docs/THREATS.md, docs/SERVER.md §The online folder): the online
// roles' only. `sihl serve` and the timestamp job refuse to start where a root or approver private key
// (a locked key file or a token reference) is readable in the folder they run from or in the store.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { readSmallFile } from '../core/fs.ts';
import { type PublicKeyInfo, privateKeyInfo } from '../core/keys.ts';
import { publicKeyOf } from './role-keys.ts';
import { CONFIG_FILE, ONLINE_ROLES, type Workspace } from './workspace.ts';

const PRIVATE_SUFFIXES = ['.key', '.pkcs11'];
/** Files this small in the store are read to see whether they are a sihl private key. */
const SNIFF_BYTES = 16 * 1024;
/** A store's folders are walked at most this deep (its own layout is four levels). */
const MAX_DEPTH = 16;

function refused(path: string, what: string): SihlError {
  return new SihlError(
    'KEY_FILE_EXPOSED',
    `${what} is readable here; a server and its jobs hold online keys only: run them from an online folder (\`sihl online create DIR\`)`,
    { subject: path },
  );
}

/**
 * Refuses when keys/ holds a private key (file or token reference) of any key that is not an online
 * role's, when the store holds a workspace's keys/, sihl.json or any private key file, or when a
 * signing key file anywhere in the folder (under any name, keys/ too) is not an online role's key.
 */
export async function refuseOfflineKeys(workspace: Workspace): Promise<void> {
  const online = new Set(ONLINE_ROLES.flatMap((role) => workspace.config.roles[role].keys));
  const keys = join(workspace.dir, 'keys');
  const names = await readdir(keys).catch(() => [] as string[]);
  for (const file of names.sort()) {
    const suffix = PRIVATE_SUFFIXES.find((s) => file.endsWith(s));
    if (suffix === undefined || online.has(file.slice(0, -suffix.length))) continue;
    throw refused(join(keys, file), `the private key ${file}, which no online role holds,`);
  }
  await walkStore(workspace.storeDir, 0);
  const publics = new Set<string>();
  for (const name of online) {
    const key = await publicKeyOf(workspace, name).catch(() => undefined);
    if (key) publics.add(toHex(key));
  }
  await walkFolder(workspace.dir, publics, 0);
}

/** Every file of the folder that is a sihl signing key file must hold an online role's key. */
async function walkFolder(dir: string, online: ReadonlySet<string>, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walkFolder(path, online, depth + 1);
    // A link to a key file is as readable as the file.
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const info = await sniffKey(path);
    if (info?.kind === 'signing' && !(info.sign && online.has(toHex(info.sign))))
      throw refused(path, `the private key of ${info.name}, which no online role holds,`);
  }
}

async function walkStore(dir: string, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.name === 'keys' || entry.name === CONFIG_FILE)
      throw refused(path, `a workspace's ${entry.name} in the store`);
    if (entry.isDirectory()) await walkStore(path, depth + 1);
    else if (entry.isFile() && (await isPrivateKey(path, entry.name)))
      throw refused(path, 'a private key file in the store');
  }
}

async function isPrivateKey(path: string, name: string): Promise<boolean> {
  if (PRIVATE_SUFFIXES.some((s) => name.endsWith(s))) return true;
  return (await sniffKey(path)) !== undefined;
}

/** What a small file is, when it is a sihl private key file (JSON); else undefined. */
async function sniffKey(path: string): Promise<PublicKeyInfo | undefined> {
  if ((await lstat(path)).size > SNIFF_BYTES) return undefined;
  const bytes = await readSmallFile(path, SNIFF_BYTES).catch(() => new Uint8Array(0));
  if (bytes[0] !== 0x7b) return undefined; // '{': sihl key files are JSON
  let json: { sihl?: unknown; name?: unknown } | undefined;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (json?.sihl !== 'private-key') return undefined;
  try {
    return privateKeyInfo(bytes);
  } catch {
    // A private key file this sihl cannot read is never taken for an online key.
    return { kind: 'signing', name: String(json.name ?? 'unknown') };
  }
}
