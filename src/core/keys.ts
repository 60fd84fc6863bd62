// Key files. A private key file holds its secret under a passphrase (Argon2id + XChaCha20-Poly1305);
// its public half is stored in clear beside it and bound to the ciphertext as associated data, so
// swapping the public part is detected. Public key files and root trust files are plain JSON.
// docs/FORMAT.md §Key files describes the formats.

import {
  type BoxKeyPair,
  boxKeyPairFromSecret,
  checkBoxPublicKey,
  generateBoxKeyPair,
} from './crypto/box.ts';
import { DIGEST_BYTES, equalBytes } from './crypto/hash.ts';
import {
  DEFAULT_KDF_COST,
  type KdfCost,
  keyFileCost,
  type LockedSecret,
  lockSecret,
  SALT_BYTES,
  SIGNING_KDF_COST,
  unlockSecret,
} from './crypto/passphrase-box.ts';
import {
  checkSigningPublicKey,
  generateSigningKeyPair,
  keyIdOf,
  type SigningKeyPair,
  seedOf,
  signingKeyPairFromSeed,
} from './crypto/sign.ts';
import { wipe } from './crypto/sodium.ts';
import { STREAM_KEY_BYTES } from './crypto/stream.ts';
import { SihlError } from './errors.ts';
import { toHex, utf8 } from './format/bytes.ts';
import type { KeySet } from './format/signatures.ts';
import { LIMITS } from './limits.ts';

export type KeyKind = 'signing' | 'device' | 'content';

/** A device's two separate key pairs: Ed25519 to sign its reports, X25519 to open key envelopes. */
export interface DeviceKeys {
  readonly sign: SigningKeyPair;
  readonly box: BoxKeyPair;
}

export interface PublicKeyInfo {
  readonly kind: KeyKind;
  readonly name: string;
  /** Ed25519 public key (signing and device keys). */
  readonly sign?: Uint8Array;
  /** X25519 public key (device keys). */
  readonly box?: Uint8Array;
  /** Stream binding of the image a content key belongs to. */
  readonly binding?: Uint8Array;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function fromB64(value: unknown, length: number, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new SihlError('KEY_FILE_MALFORMED', `${what} is not base64`);
  }
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  if (bytes.length !== length)
    throw new SihlError('KEY_FILE_MALFORMED', `${what} must be ${length} bytes, not ${bytes.length}`);
  return bytes;
}

function parseJson(bytes: Uint8Array, expected: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    const text = new TextDecoder().decode(bytes.subarray(0, 40));
    const hint = text.startsWith('-----BEGIN') ? ' (it looks like a PEM key from another tool)' : '';
    throw new SihlError('KEY_FILE_MALFORMED', `not a sihl ${expected} file${hint}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SihlError('KEY_FILE_MALFORMED', `not a sihl ${expected} file`);
  }
  const record = value as Record<string, unknown>;
  if (record.sihl !== expected) {
    const found = typeof record.sihl === 'string' ? `a sihl ${record.sihl} file` : 'not a sihl file';
    throw new SihlError('KEY_WRONG_KIND', `expected a sihl ${expected} file, found ${found}`);
  }
  if (record.version !== 1) throw new SihlError('KEY_FILE_MALFORMED', `unsupported ${expected} file version`);
  return record;
}

function publicJson(info: PublicKeyInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: info.kind, name: info.name };
  if (info.sign) out.sign = b64(info.sign);
  if (info.box) out.box = b64(info.box);
  if (info.binding) out.binding = toHex(info.binding);
  return out;
}

function parsePublic(record: Record<string, unknown>): PublicKeyInfo {
  const kind = record.kind;
  if (kind !== 'signing' && kind !== 'device' && kind !== 'content') {
    throw new SihlError('KEY_FILE_MALFORMED', 'unknown key kind');
  }
  const name = typeof record.name === 'string' ? record.name : '';
  const info: { kind: KeyKind; name: string; sign?: Uint8Array; box?: Uint8Array; binding?: Uint8Array } = {
    kind,
    name,
  };
  if (kind !== 'content') info.sign = checkSigningPublicKey(fromB64(record.sign, 32, 'sign'));
  if (kind === 'device') info.box = checkBoxPublicKey(fromB64(record.box, 32, 'box'));
  if (kind === 'content') {
    if (typeof record.binding !== 'string' || !/^[0-9a-f]{64}$/.test(record.binding)) {
      throw new SihlError('KEY_FILE_MALFORMED', 'binding must be 64 hex digits');
    }
    info.binding = new Uint8Array(Buffer.from(record.binding, 'hex'));
  }
  return info;
}

/** The associated data of a private key file: its public part, encoded the one way this code writes it. */
function associatedData(info: PublicKeyInfo): Uint8Array {
  return utf8.encode(JSON.stringify({ sihl: 'private-key', version: 1, ...publicJson(info) }));
}

export function encodePublicKeyFile(info: PublicKeyInfo): string {
  const extra = info.sign ? { keyId: toHex(keyIdOf(info.sign)) } : {};
  return `${JSON.stringify({ sihl: 'public-key', version: 1, ...publicJson(info), ...extra }, null, 2)}\n`;
}

export function decodePublicKeyFile(bytes: Uint8Array): PublicKeyInfo {
  return parsePublic(parseJson(bytes, 'public-key'));
}

/** The public part a private key file keeps in clear (its name, kind and public key), read without its passphrase. */
export function privateKeyInfo(bytes: Uint8Array): PublicKeyInfo {
  if (bytes.length > LIMITS.keyFileBytes) throw new SihlError('LIMIT_EXCEEDED', 'key file is too large');
  return parsePublic(parseJson(bytes, 'private-key'));
}

async function encodePrivateKeyFile(
  info: PublicKeyInfo,
  secret: Uint8Array,
  passphrase: string,
  cost: KdfCost,
): Promise<string> {
  const locked = await lockSecret(secret, passphrase, associatedData(info), keyFileCost(cost));
  const file = {
    sihl: 'private-key',
    version: 1,
    ...publicJson(info),
    kdf: {
      alg: locked.kdf.alg,
      opslimit: locked.kdf.opslimit,
      memlimit: locked.kdf.memlimit,
      salt: b64(locked.kdf.salt),
    },
    cipher: { alg: 'xchacha20poly1305-ietf', nonce: b64(locked.nonce) },
    ciphertext: b64(locked.ciphertext),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

const SECRET_BYTES: Record<KeyKind, number> = { signing: 32, device: 64, content: STREAM_KEY_BYTES };

/** Opens a private key file; the secret is returned for the caller to use and wipe. */
async function decodePrivateKeyFile(
  bytes: Uint8Array,
  passphrase: string,
  kind: KeyKind,
): Promise<{ info: PublicKeyInfo; secret: Uint8Array }> {
  if (bytes.length > LIMITS.keyFileBytes) throw new SihlError('LIMIT_EXCEEDED', 'key file is too large');
  const record = parseJson(bytes, 'private-key');
  const info = parsePublic(record);
  if (info.kind !== kind)
    throw new SihlError('KEY_WRONG_KIND', `expected a ${kind} key, found a ${info.kind} key`);
  const kdf = record.kdf as Record<string, unknown> | undefined;
  const cipher = record.cipher as Record<string, unknown> | undefined;
  if (!kdf || !cipher || cipher.alg !== 'xchacha20poly1305-ietf' || kdf.alg !== 'argon2id13') {
    throw new SihlError('KEY_FILE_MALFORMED', 'missing or unknown kdf or cipher');
  }
  const locked: LockedSecret = {
    kdf: {
      alg: 'argon2id13',
      opslimit: Number(kdf.opslimit),
      memlimit: Number(kdf.memlimit),
      salt: fromB64(kdf.salt, SALT_BYTES, 'salt'),
    },
    nonce: fromB64(cipher.nonce, 24, 'nonce'),
    ciphertext: fromB64(record.ciphertext, SECRET_BYTES[kind] + 16, 'ciphertext'),
  };
  const secret = await unlockSecret(locked, passphrase, associatedData(info));
  return { info, secret };
}

export interface KeyFiles {
  readonly privateFile: string;
  readonly publicFile: string;
  readonly info: PublicKeyInfo;
}

/**
 * Makes a new signing key and its two files' contents. Root and approver keys take the default,
 * SIGNING_KDF_COST (MODERATE); online keys that a server opens unattended pass DEFAULT_KDF_COST.
 */
export async function newSigningKeyFiles(
  name: string,
  passphrase: string,
  cost: KdfCost = SIGNING_KDF_COST,
): Promise<KeyFiles> {
  const pair = generateSigningKeyPair();
  const info: PublicKeyInfo = { kind: 'signing', name, sign: pair.publicKey };
  const seed = seedOf(pair);
  try {
    return {
      privateFile: await encodePrivateKeyFile(info, seed, passphrase, cost),
      publicFile: encodePublicKeyFile(info),
      info,
    };
  } finally {
    wipe(seed, pair.secretKey);
  }
}

/** Makes a device's two key pairs (in the field, its secure element does this itself). */
export async function newDeviceKeyFiles(name: string, passphrase: string): Promise<KeyFiles> {
  const sign = generateSigningKeyPair();
  const box = generateBoxKeyPair();
  const info: PublicKeyInfo = { kind: 'device', name, sign: sign.publicKey, box: box.publicKey };
  const secret = Buffer.concat([seedOf(sign), box.secretKey]);
  try {
    return {
      privateFile: await encodePrivateKeyFile(info, secret, passphrase, DEFAULT_KDF_COST),
      publicFile: encodePublicKeyFile(info),
      info,
    };
  } finally {
    wipe(secret, sign.secretKey, box.secretKey);
  }
}

export async function contentKeyFile(
  name: string,
  key: Uint8Array,
  binding: Uint8Array,
  passphrase: string,
): Promise<string> {
  if (binding.length !== DIGEST_BYTES) throw new SihlError('INTERNAL', 'binding must be 32 bytes');
  return encodePrivateKeyFile({ kind: 'content', name, binding }, key, passphrase, DEFAULT_KDF_COST);
}

export async function openSigningKey(bytes: Uint8Array, passphrase: string): Promise<SigningKeyPair> {
  const { info, secret } = await decodePrivateKeyFile(bytes, passphrase, 'signing');
  const pair = signingKeyPairFromSeed(secret);
  wipe(secret);
  if (!info.sign || !equalBytes(pair.publicKey, info.sign)) {
    throw new SihlError('KEY_FILE_MALFORMED', 'public key does not match the secret key');
  }
  return pair;
}

export async function openDeviceKeys(bytes: Uint8Array, passphrase: string): Promise<DeviceKeys> {
  const { info, secret } = await decodePrivateKeyFile(bytes, passphrase, 'device');
  const sign = signingKeyPairFromSeed(secret.subarray(0, 32));
  const box = boxKeyPairFromSecret(secret.slice(32));
  wipe(secret);
  if (
    !info.sign ||
    !info.box ||
    !equalBytes(sign.publicKey, info.sign) ||
    !equalBytes(box.publicKey, info.box)
  ) {
    throw new SihlError('KEY_FILE_MALFORMED', 'public keys do not match the secret keys');
  }
  return { sign, box };
}

export async function openContentKey(
  bytes: Uint8Array,
  passphrase: string,
): Promise<{ key: Uint8Array; binding: Uint8Array }> {
  const { info, secret } = await decodePrivateKeyFile(bytes, passphrase, 'content');
  return { key: secret, binding: info.binding as Uint8Array };
}

/** A root trust file's content: keys, threshold, and which root version they are (FORMAT.md §Root chain). */
export interface RootTrust extends KeySet {
  readonly version: number;
}

/** The root trust file: the root public keys and threshold a device pins, and their root version. */
export function encodeRootFile(root: KeySet & { readonly version?: number }): string {
  const record = {
    sihl: 'root',
    version: 1,
    rootVersion: root.version ?? 1,
    threshold: root.threshold,
    keys: root.keys.map(b64),
  };
  return `${JSON.stringify(record, null, 2)}\n`;
}

export function decodeRootFile(bytes: Uint8Array): RootTrust {
  const record = parseJson(bytes, 'root');
  const version = record.rootVersion ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 0xffffffff) {
    throw new SihlError('KEY_FILE_MALFORMED', 'root file: rootVersion must be a whole number ≥ 1');
  }
  const keys = record.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > LIMITS.delegatedKeys) {
    throw new SihlError('KEY_FILE_MALFORMED', `root file needs 1 to ${LIMITS.delegatedKeys} keys`);
  }
  const parsed = keys.map((k, i) => checkSigningPublicKey(fromB64(k, 32, `root key ${i}`), `root key ${i}`));
  const ids = new Set(parsed.map((k) => toHex(k)));
  if (ids.size !== parsed.length) throw new SihlError('KEY_FILE_MALFORMED', 'root file lists a key twice');
  const threshold = record.threshold;
  if (
    typeof threshold !== 'number' ||
    !Number.isInteger(threshold) ||
    threshold < 1 ||
    threshold > parsed.length
  ) {
    throw new SihlError('KEY_FILE_MALFORMED', `root threshold must be 1..${parsed.length}`);
  }
  return { keys: parsed, threshold, version };
}
