// A key change signed by root keys that different people hold (docs/WORKSPACE.md §Root key ceremony).
// Planning (`keys add|remove|rotate … --ceremony FILE`) works the change out (rotation.ts) and writes a
// ceremony file: the change in words, exactly the bytes each root key must sign, which root keys may sign
// them, and the workspace state it was planned against. Each holder adds their signatures on their own
// machine (`ceremony sign`, no workspace needed); `ceremony apply` in the workspace refuses a workspace
// that changed since, works the change out again at the planned time, compares every byte, and applies
// it as the one-command path would. The file holds public keys and signatures only.
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { closeSigners, equalBytes, type SigningKey, sha256 } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex, utf8 } from '../core/format/bytes.ts';
import { exists, readPrivateKeyFile, writeFileAtomic } from '../core/fs.ts';
import { decodePublicKeyFile, openSigningKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { parsePkcs11Reference } from '../core/token/pkcs11-uri.ts';
import { type CeremonyFile, decodeCeremony, encodeCeremony, type Planned } from './ceremony-file.ts';
import { type Mirrored, mirrored, type StoreChoice } from './cloud-store.ts';
import { freshKey, type TokenKeyOption } from './fresh-key.ts';
import { type KeyChange, plan } from './key-change-plan.ts';
import { type Published, readPublished } from './published.ts';
import type { Passphrases } from './role-keys.ts';
import { checkGivenRootKeys, refuseMisplacedRootKeys, rootSet } from './root-keys.ts';
import {
  messagesOf,
  missingSignatures,
  type RootSignature,
  type RootWork,
  sameSet,
  signMessages,
  signWork,
} from './root-signatures.ts';
import {
  applyChange,
  checkNewRootKeyPlace,
  type KeyChangeResult,
  type NewKeyFiles,
  prepareChange,
  rootSigns,
  writePublicKey,
} from './rotation.ts';
import { openTokenKey } from './token-keys.ts';
import type { Clock } from './tuf/expiry.ts';
import { serialize } from './tuf/metadata.ts';
import { readTufRoots } from './tuf-roots.ts';
import type { Workspace } from './workspace.ts';

export type { CeremonyFile } from './ceremony-file.ts';

const CEREMONY_BYTES = 1024 * 1024;

/** Where a new approver or online key waits while its ceremony is signed. */
export function pendingDir(workspace: Workspace): string {
  return join(workspace.dir, 'keys', 'pending');
}

/** A digest of everything a key change is worked out from: configuration, keys, trust, published root. */
export async function workspaceState(workspace: Workspace, published: Published): Promise<string> {
  const { roles } = workspace.config;
  const names = Object.values(roles).flatMap((r) => r.keys);
  const paths = [
    workspace.configPath,
    workspace.rootTrustPath,
    workspace.delegationPath,
    workspace.rootChainPath,
    ...(await readTufRoots(workspace)).map((root) => workspace.tufRootPath(root.signed.version)),
    ...names.map((name) => workspace.keyPath(name, 'pub')),
  ];
  const parts: Uint8Array[] = [];
  for (const path of paths) {
    const bytes = (await exists(path)) ? new Uint8Array(await readFile(path)) : new Uint8Array();
    parts.push(utf8.encode(`${path.slice(workspace.dir.length)}\0${bytes.length}\0`), bytes);
  }
  if (published.root) parts.push(utf8.encode('published root\0'), serialize(published.root));
  return toHex(sha256(Buffer.concat(parts)));
}

export async function readCeremony(path: string): Promise<CeremonyFile> {
  try {
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.length > CEREMONY_BYTES)
      throw new SihlError('LIMIT_EXCEEDED', 'not a ceremony file: too large');
    return decodeCeremony(bytes);
  } catch (error) {
    throw naming(path, error);
  }
}

export interface PlanCeremonyOptions {
  /** The new key's passphrase or token (add, rotate). */
  readonly passphrase?: string;
  readonly token?: TokenKeyOption;
  /** Or only the new approver's public key (keys add --public). */
  readonly publicKey?: Uint8Array;
  /** A new root key's folder, outside the workspace (root rotation). */
  readonly rootDir?: string;
  /** Root keys at hand now; they sign at planning. */
  readonly rootKeys?: readonly SigningKey[];
  readonly now?: Clock;
}

/**
 * Plans `change` into the ceremony file `file`. A new approver or online key is made now and waits in
 * keys/pending/; a new root key is made now into its folder outside the workspace and signs at once.
 */
export async function planCeremony(
  workspace: Workspace,
  change: KeyChange,
  file: string,
  options: PlanCeremonyOptions,
): Promise<CeremonyFile> {
  await refuseMisplacedRootKeys(workspace);
  if (await exists(file)) {
    throw new SihlError('FILE_EXISTS', 'a ceremony file is already there: name another', { subject: file });
  }
  const p = plan(workspace, change);
  const given = options.rootKeys ?? [];
  checkGivenRootKeys(given, (await rootSet(workspace)).keys);
  const published = await readPublished(workspace.storeDir);
  if (!rootSigns(p)) {
    throw new SihlError('USAGE', 'root signs nothing for this change: run it without --ceremony');
  }
  if (p.role === 'root') await checkNewRootKeyPlace(workspace, p.name, options);
  const plannedAt = new Date(Math.floor((options.now?.() ?? new Date()).getTime() / 1000) * 1000);
  const fresh = p.makesKey ? await freshKey(p.name, p.role, options) : undefined;
  try {
    const newKey = fresh ? { name: fresh.name, publicKey: fresh.pair.publicKey } : undefined;
    const prepared = await prepareChange(workspace, p, newKey, published, () => plannedAt);
    const signers = fresh && p.role === 'root' ? [fresh.pair, ...given] : given;
    const planned: Planned = {
      change,
      ...(newKey ? { newKey } : {}),
      plannedAt,
      workspaceState: await workspaceState(workspace, published),
      current: prepared.work.current,
      next: prepared.work.next,
      messages: messagesOf(prepared.work),
    };
    const ceremony = { planned, signatures: signWork(prepared.work, signers) };
    if (fresh && p.role === 'root') {
      if (options.rootDir) {
        await mkdir(options.rootDir, { recursive: true });
        await fresh.write(workspace, options.rootDir);
      }
    } else if (fresh) {
      await mkdir(pendingDir(workspace), { recursive: true });
      await fresh.write(workspace, pendingDir(workspace));
    }
    await writeFileAtomic(file, encodeCeremony(ceremony));
    return decodeCeremony(utf8.encode(encodeCeremony(ceremony)));
  } finally {
    if (fresh) closeSigners([fresh.pair]);
  }
}

/** Adds `key`'s signatures to the ceremony file; refuses a key it does not name, or one that signed. */
export async function signCeremony(file: string, key: SigningKey): Promise<CeremonyFile> {
  const ceremony = await readCeremony(file);
  const { planned } = ceremony;
  const all = [...planned.current.keys, ...planned.next.keys];
  const known = all.find((k) => equalBytes(k.publicKey, key.publicKey));
  if (!known) {
    throw new SihlError(
      'SIGNATURE_UNKNOWN_KEY',
      `this key is not one of the root keys the ceremony names (${[...new Set(all.map((k) => k.name))].join(', ')})`,
      { subject: file },
    );
  }
  if (ceremony.signatures.some((s) => equalBytes(s.publicKey, key.publicKey))) {
    throw new SihlError('SIGNATURE_DUPLICATE_KEY', `${known.name} has signed this ceremony already`, {
      subject: file,
    });
  }
  const added = signMessages(planned, planned.messages, [key]);
  const next = { planned, signatures: [...ceremony.signatures, ...added] };
  await writeFileAtomic(file, encodeCeremony(next), { overwrite: true });
  return decodeCeremony(utf8.encode(encodeCeremony(next)));
}

/** Root signatures still missing, in words (empty: the ceremony can be applied). */
export function stillMissing(ceremony: CeremonyFile): string[] {
  return missingSignatures(ceremony.planned, ceremony.planned.messages, ceremony.signatures);
}

export interface ApplyCeremonyOptions extends StoreChoice {
  readonly passphrases: Passphrases;
  readonly now?: Clock;
}

/** Applies a signed ceremony in the workspace it was planned in, exactly as the one-command path would. */
export function applyCeremony(
  workspace: Workspace,
  files: readonly string[],
  options: ApplyCeremonyOptions,
): Promise<Mirrored<KeyChangeResult>> {
  return mirrored(workspace, options, async () => {
    const ceremony = await mergedCeremony(files);
    const { planned } = ceremony;
    await refuseMisplacedRootKeys(workspace);
    const published = await readPublished(workspace.storeDir);
    if ((await workspaceState(workspace, published)) !== planned.workspaceState) {
      throw new SihlError(
        'CEREMONY_STALE',
        'the workspace changed since this ceremony was planned: plan the change again',
        { subject: files[0] as string },
      );
    }
    const p = plan(workspace, planned.change);
    const prepared = await prepareChange(workspace, p, planned.newKey, published, () => planned.plannedAt);
    checkSameWork(planned, prepared.work, files[0] as string);
    const missing = stillMissing(ceremony);
    if (missing.length > 0) {
      throw new SihlError(
        'SIGNATURE_THRESHOLD',
        `the ceremony is not signed by enough root keys yet (${missing.join('; ')}): have another holder run sihl ceremony sign`,
        { subject: files[0] as string },
      );
    }
    const newKey = planned.newKey ? await pendingKey(workspace, planned, published, options) : undefined;
    try {
      return await applyChange(workspace, prepared, ceremony.signatures, {
        ...(newKey ? { newKey } : {}),
        passphrases: options.passphrases,
        ...(options.now ? { now: options.now } : {}),
      });
    } finally {
      if (newKey?.pair) closeSigners([newKey.pair]);
    }
  });
}

/** Several copies of one ceremony, each signed by someone: one ceremony with every signature. */
async function mergedCeremony(files: readonly string[]): Promise<CeremonyFile> {
  if (files.length === 0) throw new SihlError('USAGE', 'name the ceremony file');
  const first = await readCeremony(files[0] as string);
  const signatures: RootSignature[] = [...first.signatures];
  for (const file of files.slice(1)) {
    const other = await readCeremony(file);
    if (other.id !== first.id) {
      throw new SihlError('USAGE', `not the same ceremony as ${files[0]}`, { subject: file });
    }
    for (const s of other.signatures) {
      if (!signatures.some((t) => t.kind === s.kind && equalBytes(t.publicKey, s.publicKey)))
        signatures.push(s);
    }
  }
  return { ...first, signatures };
}

/** Refuses a ceremony whose root keys or bytes are not what this workspace works the change out to. */
function checkSameWork(planned: Planned, work: RootWork, file: string): void {
  const messages = messagesOf(work);
  const same =
    sameSet(planned.current, work.current) &&
    sameSet(planned.next, work.next) &&
    messages.length === planned.messages.length &&
    messages.every((m, i) => {
      const theirs = planned.messages[i];
      return (
        theirs?.kind === m.kind && equalBytes(theirs.bytes, m.bytes) && theirs.sets.join() === m.sets.join()
      );
    });
  if (!same) {
    throw new SihlError(
      'CEREMONY_INVALID',
      'the root keys or bytes to sign are not what this change works out to in this workspace: the file was changed; plan again',
      { subject: file },
    );
  }
}

/** The new key waiting in keys/pending/ (or, for root, only its public half), to move into keys/. */
async function pendingKey(
  workspace: Workspace,
  planned: Planned,
  published: Published,
  options: ApplyCeremonyOptions,
): Promise<NewKeyFiles> {
  const { name, publicKey } = planned.newKey as NonNullable<Planned['newKey']>;
  if (planned.change.kind === 'rotate' && planned.change.role === 'root') {
    return { name, write: (ws) => writePublicKey(ws, name, publicKey) };
  }
  const dir = pendingDir(workspace);
  const pub = join(dir, `${name}.pub`);
  const info = decodePublicKeyFile(
    new Uint8Array(await readFile(pub).catch((e) => Promise.reject(naming(pub, e)))),
  );
  if (!info.sign || !equalBytes(info.sign, publicKey)) {
    throw new SihlError('CEREMONY_INVALID', `${name}.pub is not the key this ceremony adds: plan again`, {
      subject: pub,
    });
  }
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${name}.`) && /\.(key|pkcs11|pub)$/.test(f));
  // A new online key signs the published metadata again at apply, so it is unlocked now.
  const { change } = planned;
  const online = change.kind === 'rotate' && change.role !== 'targets' && change.role !== 'root';
  const pair = online && published.targets ? await openPending(dir, name, options.passphrases) : undefined;
  return {
    name,
    ...(pair ? { pair } : {}),
    async write(ws) {
      await rm(ws.keyPath(name, 'key'), { force: true });
      await rm(join(ws.dir, 'keys', `${name}.pkcs11`), { force: true });
      for (const f of files) await rename(join(dir, f), join(ws.dir, 'keys', f));
    },
  };
}

async function openPending(dir: string, name: string, passphrases: Passphrases): Promise<SigningKey> {
  const reference = join(dir, `${name}.pkcs11`);
  if (await exists(reference)) {
    const text = new TextDecoder().decode(await readFile(reference)).trim();
    return openTokenKey(name, parsePkcs11Reference(text), passphrases);
  }
  const path = join(dir, `${name}.key`);
  try {
    return await openSigningKey(await readPrivateKeyFile(path, LIMITS.keyFileBytes), await passphrases(name));
  } catch (error) {
    throw naming(path, error);
  }
}
