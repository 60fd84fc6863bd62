// The workspace's keys by role: making them, loading them, and re-signing the approver delegation that
// images carry (docs/FORMAT.md §Delegation) whenever the approvers change.
import {
  asSigner,
  closeSigners,
  DEFAULT_KDF_COST,
  type KdfCost,
  keyIdOf,
  SIGNING_KDF_COST,
  type SigningKey,
} from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import {
  decodeSignedDelegation,
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../core/format/delegation.ts';
import type { SignatureEntry } from '../core/format/signatures.ts';
import { exists, readPrivateKeyFile, readSmallFile, writeFileAtomic } from '../core/fs.ts';
import { decodePublicKeyFile, encodeRootFile, newSigningKeyFiles, openSigningKey } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { openTokenKey, tokenReferenceOf, tokenReferencePath } from './token-keys.ts';
import {
  checkKeyName,
  ONLINE_ROLES,
  ROLES,
  type Role,
  type RoleConfig,
  type Workspace,
} from './workspace.ts';

/** Supplies the passphrase of a named key (the CLI asks SIHL_PASSPHRASE or the terminal). */
export type Passphrases = (keyName: string) => Promise<string>;

/**
 * The same passphrases, each asked for at most once in a use case, whatever asks for them. (Publishing
 * opens the content key once for the gate and the sealing: content-key.ts.)
 */
export function askingOnce(passphrases: Passphrases): Passphrases {
  const asked = new Map<string, Promise<string>>();
  return (keyName) => {
    let answer = asked.get(keyName);
    if (answer === undefined) {
      answer = passphrases(keyName);
      asked.set(keyName, answer);
    }
    return answer;
  };
}

/**
 * How hard a role's key files are to guess: the online keys (rollout, snapshot, timestamp) are opened
 * unattended by the server and its jobs, so they keep libsodium's INTERACTIVE cost; root and approvers
 * get MODERATE.
 */
export function kdfCostOf(role: Role): KdfCost {
  return (ONLINE_ROLES as readonly Role[]).includes(role) ? DEFAULT_KDF_COST : SIGNING_KDF_COST;
}

export async function makeKey(
  workspace: Workspace,
  name: string,
  passphrase: string,
  cost: KdfCost = SIGNING_KDF_COST,
): Promise<Uint8Array> {
  checkKeyName(name);
  const files = await newSigningKeyFiles(name, passphrase, cost);
  await writeFileAtomic(workspace.keyPath(name, 'key'), files.privateFile, { mode: 0o600 });
  await writeFileAtomic(workspace.keyPath(name, 'pub'), files.publicFile);
  return files.info.sign as Uint8Array;
}

export async function publicKeyOf(workspace: Workspace, name: string): Promise<Uint8Array> {
  const path = workspace.keyPath(name, 'pub');
  try {
    const info = decodePublicKeyFile(await readSmallFile(path, LIMITS.keyFileBytes));
    if (info.kind !== 'signing' || !info.sign) throw new SihlError('KEY_WRONG_KIND', 'not a signing key');
    return info.sign;
  } catch (error) {
    throw naming(path, error);
  }
}

export async function loadKey(
  workspace: Workspace,
  name: string,
  passphrases: Passphrases,
): Promise<SigningKey> {
  const ref = await tokenReferenceOf(workspace, name);
  if (ref) return openTokenKey(name, ref, passphrases);
  const path = workspace.keyPath(name, 'key');
  try {
    const bytes = await readPrivateKeyFile(path, LIMITS.keyFileBytes);
    return await openSigningKey(bytes, await passphrases(name));
  } catch (error) {
    throw naming(path, error);
  }
}

/** Whether this workspace can sign with the key: its locked file, or its reference on a token. */
export async function holdsPrivateKey(workspace: Workspace, name: string): Promise<boolean> {
  return (
    (await exists(workspace.keyPath(name, 'key'))) || (await exists(tokenReferencePath(workspace, name)))
  );
}

export async function roleKeys(workspace: Workspace, role: Role): Promise<Uint8Array[]> {
  return (await namedKeys(workspace, workspace.config.roles[role])).map((k) => k.publicKey);
}

/** The public keys a role names (`config`, the workspace's or a changed one), each with its name. */
export async function namedKeys(
  workspace: Workspace,
  config: RoleConfig,
): Promise<{ name: string; publicKey: Uint8Array }[]> {
  const keys: { name: string; publicKey: Uint8Array }[] = [];
  for (const name of config.keys) keys.push({ name, publicKey: await publicKeyOf(workspace, name) });
  return keys;
}

/**
 * Loads a threshold of a role's private keys (the first ones whose files exist). During a key change
 * (rotation.ts), `roles` are the roles after it and `fresh` is the new key, not yet on disk, which signs first.
 */
export async function roleSigners(
  workspace: Workspace,
  role: Role,
  passphrases: Passphrases,
  change: {
    readonly roles?: Readonly<Record<Role, RoleConfig>>;
    readonly fresh?: { readonly name: string; readonly pair: SigningKey };
  } = {},
): Promise<SigningKey[]> {
  const { keys, threshold } = (change.roles ?? workspace.config.roles)[role];
  const { fresh } = change;
  const ordered =
    fresh && keys.includes(fresh.name) ? [fresh.name, ...keys.filter((n) => n !== fresh.name)] : keys;
  const signers: SigningKey[] = [];
  for (const name of ordered) {
    if (signers.length === threshold) break;
    if (name === fresh?.name) signers.push(fresh.pair);
    else if (await holdsPrivateKey(workspace, name))
      signers.push(await loadKey(workspace, name, passphrases));
  }
  if (signers.length < threshold) {
    throw new SihlError(
      'USAGE',
      `the ${role} role needs ${threshold} key(s) to sign; ${signers.length} available here`,
    );
  }
  return signers;
}

/**
 * The private keys one operation unlocked, wiped (sodium_memzero) when its scope ends, error or not:
 * `using held = new HeldKeys()`, then `held.hold(await roleSigners(...))`.
 */
export class HeldKeys {
  readonly #keys: SigningKey[] = [];

  hold(keys: SigningKey[]): SigningKey[] {
    this.#keys.push(...keys);
    return keys;
  }

  [Symbol.dispose](): void {
    closeSigners(this.#keys);
  }
}

/** The trust file devices pin: the root keys and their threshold. */
export async function writeRootTrust(workspace: Workspace): Promise<void> {
  const keys = await roleKeys(workspace, 'root');
  await writeFileAtomic(
    workspace.rootTrustPath,
    encodeRootFile({
      keys,
      threshold: workspace.config.roles.root.threshold,
      version: workspace.rootVersion,
    }),
    {
      overwrite: true,
    },
  );
}

/**
 * Signs the current approvers into a delegation of version `workspace.config.delegationVersion` with
 * `roots` (a threshold of root keys), and writes it to trust/delegation.bin.
 */
export async function writeDelegation(
  workspace: Workspace,
  roots: readonly SigningKey[],
): Promise<Uint8Array> {
  const targets = workspace.config.roles.targets;
  const bytes = signDelegation(
    { version: workspace.config.delegationVersion, threshold: targets.threshold },
    await roleKeys(workspace, 'targets'),
    roots,
  );
  await writeFileAtomic(workspace.delegationPath, bytes, { overwrite: true });
  return bytes;
}

/** One signature entry (docs/FORMAT.md §Signatures) by a file key or a token key. */
export function entryFrom(key: SigningKey, message: Uint8Array): SignatureEntry {
  const signer = asSigner(key);
  return { keyId: signer.keyId, signature: signer.sign(message) };
}

/** A signed delegation of `approvers` (docs/FORMAT.md §Delegation), signed by `roots`. */
export function signDelegation(
  what: { version: number; threshold: number },
  approvers: readonly Uint8Array[],
  roots: readonly SigningKey[],
): Uint8Array {
  if (approvers.length < what.threshold) {
    throw new SihlError(
      'USAGE',
      `${what.threshold} approvers are needed; the workspace has ${approvers.length}`,
    );
  }
  const body = encodeDelegationBody({ version: what.version, threshold: what.threshold, keys: approvers });
  const message = delegationMessage(body);
  const bytes = encodeSignedDelegation(
    body,
    roots.map((root) => entryFrom(root, message)),
  );
  decodeSignedDelegation(bytes);
  return bytes;
}

/** The workspace's root chain (empty before the first root rotation). */
export async function readRootChain(workspace: Workspace): Promise<Uint8Array> {
  if (!(await exists(workspace.rootChainPath))) return new Uint8Array(0);
  return readSmallFile(workspace.rootChainPath, LIMITS.rootChainBytes);
}

export interface KeyListing {
  readonly role: Role;
  readonly threshold: number;
  readonly keys: { name: string; keyId: string; private: boolean }[];
}

export async function listKeys(workspace: Workspace): Promise<KeyListing[]> {
  const out: KeyListing[] = [];
  for (const role of ROLES) {
    const { keys, threshold } = workspace.config.roles[role];
    const listed = [];
    for (const name of keys) {
      listed.push({
        name,
        keyId: toHex(keyIdOf(await publicKeyOf(workspace, name))),
        private: await holdsPrivateKey(workspace, name),
      });
    }
    out.push({ role, threshold, keys: listed });
  }
  return out;
}
