// Reading the small files the CLI takes (keys, trust files, delegations, envelopes), each bounded and
// named in errors.
import { resolve } from 'node:path';
import type { SigningKey } from '../core/crypto/index.ts';
import { naming } from '../core/errors.ts';
import { readPrivateKeyFile, readSmallFile } from '../core/fs.ts';
import {
  type DeviceKeys,
  decodePublicKeyFile,
  decodeRootFile,
  openContentKey,
  openDeviceKeys,
  openSigningKey,
  type PublicKeyInfo,
  type RootTrust,
} from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import type { Context } from './command.ts';
import { passphraseFor } from './passphrase.ts';
import { isPkcs11Reference, openTokenKey } from './tokens.ts';

export function pathIn(context: Context, path: string): string {
  return resolve(context.cwd, path);
}

async function withName<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw naming(path, error);
  }
}

async function readPrivateInput(context: Context, path: string): Promise<Uint8Array> {
  return readPrivateKeyFile(pathIn(context, path), LIMITS.keyFileBytes);
}

export async function readInput(context: Context, path: string, limit: number): Promise<Uint8Array> {
  return readSmallFile(pathIn(context, path), limit);
}

/** A signing key from a key file (its passphrase asked for), or `pkcs11:…` on a token (tokens.ts). */
export function loadSigningKey(context: Context, path: string): Promise<SigningKey> {
  if (isPkcs11Reference(path)) return openTokenKey(context, path);
  return withName(path, async () => {
    const bytes = await readPrivateInput(context, path);
    return openSigningKey(bytes, await passphraseFor(context, `for ${path}`));
  });
}

export function loadDeviceKeys(context: Context, path: string): Promise<DeviceKeys> {
  return withName(path, async () => {
    const bytes = await readPrivateInput(context, path);
    return openDeviceKeys(bytes, await passphraseFor(context, `for ${path}`));
  });
}

export function loadContentKey(
  context: Context,
  path: string,
): Promise<{ key: Uint8Array; binding: Uint8Array }> {
  return withName(path, async () => {
    const bytes = await readPrivateInput(context, path);
    return openContentKey(bytes, await passphraseFor(context, `for ${path}`));
  });
}

export function loadPublicKey(context: Context, path: string): Promise<PublicKeyInfo> {
  return withName(path, async () => decodePublicKeyFile(await readInput(context, path, LIMITS.keyFileBytes)));
}

export function loadRoot(context: Context, path: string): Promise<RootTrust> {
  return withName(path, async () => decodeRootFile(await readInput(context, path, LIMITS.trustFileBytes)));
}
