// Workspace keys held on a PKCS#11 token: keys/NAME.pub as for any key, and keys/NAME.pkcs11 with the
// key's reference (token and object labels, the library's path, and at most the path of a PIN file; never
// a PIN) in place of keys/NAME.key. The PIN comes from the reference's pin-source file or, like a
// passphrase, from the caller's Passphrases.
import { join } from 'node:path';
import type { Signer } from '../core/crypto/index.ts';
import { isSihlError, naming, SihlError } from '../core/errors.ts';
import { exists, readSmallFile, writeFileAtomic } from '../core/fs.ts';
import { encodePublicKeyFile } from '../core/keys.ts';
import { generateTokenKey, openTokenSigner } from '../core/token/pkcs11-signer.ts';
import {
  formatPkcs11Reference,
  type Pkcs11Reference,
  parsePkcs11Reference,
} from '../core/token/pkcs11-uri.ts';
import type { Workspace } from './workspace.ts';

const REFERENCE_BYTES = 4096;

/** Supplies a PIN when the reference names no pin-source file. */
export type TokenPin = (keyName: string) => Promise<string>;

export function tokenReferencePath(workspace: Workspace, name: string): string {
  return join(workspace.dir, 'keys', `${name}.pkcs11`);
}

/** The reference of a key kept on a token, or null when the key is not on one. */
export async function tokenReferenceOf(workspace: Workspace, name: string): Promise<Pkcs11Reference | null> {
  const path = tokenReferencePath(workspace, name);
  if (!(await exists(path))) return null;
  try {
    const text = new TextDecoder().decode(await readSmallFile(path, REFERENCE_BYTES)).trim();
    const ref = parsePkcs11Reference(text);
    if (!ref.modulePath) throw new SihlError('KEY_FILE_MALFORMED', 'the reference names no module-path');
    return ref;
  } catch (error) {
    throw naming(path, error);
  }
}

async function pinOptions(name: string, ref: Pkcs11Reference, pin: TokenPin) {
  return ref.pinSource ? {} : { pin: await pin(name) };
}

export async function openTokenKey(name: string, ref: Pkcs11Reference, pin: TokenPin): Promise<Signer> {
  return openTokenSigner(ref, await pinOptions(name, ref, pin));
}

/**
 * The signer of a new role key on a token: the key pair under the reference's label if the token has
 * one (made with the token's own tools), otherwise a new one made there now.
 */
export async function tokenKeyFor(name: string, ref: Pkcs11Reference, pin: TokenPin): Promise<Signer> {
  if (!ref.modulePath)
    throw new SihlError('USAGE', 'a workspace token key needs the module-path of its library');
  const options = await pinOptions(name, ref, pin);
  try {
    return await openTokenSigner(ref, options);
  } catch (error) {
    if (!isSihlError(error) || !/no key pair labelled/.test(error.message)) throw error;
  }
  await generateTokenKey(ref, options);
  return openTokenSigner(ref, options);
}

/** Writes NAME.pub and NAME.pkcs11 for a key on a token into `folder` (a workspace's keys/, or keys/pending/). */
export async function writeTokenKeyFiles(
  folder: string,
  name: string,
  ref: Pkcs11Reference,
  publicKey: Uint8Array,
  overwrite = false,
): Promise<void> {
  await writeFileAtomic(join(folder, `${name}.pkcs11`), `${formatPkcs11Reference(ref)}\n`, {
    mode: 0o600,
    overwrite,
  });
  await writeFileAtomic(
    join(folder, `${name}.pub`),
    encodePublicKeyFile({ kind: 'signing', name, sign: publicKey }),
    { overwrite },
  );
}
