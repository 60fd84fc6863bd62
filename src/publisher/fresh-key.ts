// A role's new key during a key change (rotation.ts): locked in a key file under its own passphrase, or
// made (or found) on a PKCS#11 token. It signs in memory first; write() puts it into keys/ at the end, or
// into another folder: keys/pending/ while a ceremony is signed, a root key's folder outside the workspace.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, type Signer, type SigningKey } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { encodePublicKeyFile, newSigningKeyFiles, openSigningKey } from '../core/keys.ts';
import type { Pkcs11Reference } from '../core/token/pkcs11-uri.ts';
import { kdfCostOf } from './role-keys.ts';
import { type TokenPin, tokenKeyFor, writeTokenKeyFiles } from './token-keys.ts';
import type { Role, Workspace } from './workspace.ts';

/** Where a new key is made: a token reference and where its PIN comes from. */
export interface TokenKeyOption {
  readonly ref: Pkcs11Reference;
  readonly pin: TokenPin;
}

export interface FreshKey {
  readonly name: string;
  readonly pair: SigningKey;
  /** Only the public key is here (an approver who holds their key elsewhere): `pair` cannot sign. */
  readonly publicOnly?: true;
  /** Writes the key's files into `folder` (default: the workspace's keys/), replacing a rotated key's. */
  write(workspace: Workspace, folder?: string): Promise<void>;
}

const keysOf = (workspace: Workspace, folder: string | undefined) => folder ?? join(workspace.dir, 'keys');

export async function freshKey(
  name: string,
  role: Role,
  options: {
    readonly passphrase?: string;
    readonly token?: TokenKeyOption;
    readonly publicKey?: Uint8Array;
  },
): Promise<FreshKey> {
  const { token, passphrase, publicKey } = options;
  if (publicKey) return publicOnlyKey(name, publicKey);
  if (token) {
    const signer = await tokenKeyFor(name, token.ref, token.pin);
    return {
      name,
      pair: signer,
      async write(workspace, folder) {
        const dir = keysOf(workspace, folder);
        await writeTokenKeyFiles(dir, name, token.ref, signer.publicKey, true);
        await rm(join(dir, `${name}.key`), { force: true });
      },
    };
  }
  if (!passphrase)
    throw new SihlError('PASSPHRASE_MISSING', `a passphrase is needed for the new key ${name}`);
  const files = await newSigningKeyFiles(name, passphrase, kdfCostOf(role));
  return {
    name,
    pair: await openSigningKey(new TextEncoder().encode(files.privateFile), passphrase),
    async write(workspace, folder) {
      const dir = keysOf(workspace, folder);
      await writeFileAtomic(join(dir, `${name}.key`), files.privateFile, { mode: 0o600, overwrite: true });
      await writeFileAtomic(join(dir, `${name}.pub`), files.publicFile, { overwrite: true });
      await rm(join(dir, `${name}.pkcs11`), { force: true });
    },
  };
}

/** An approver's key held where the approver is: the workspace gets keys/NAME.pub and nothing else. */
function publicOnlyKey(name: string, publicKey: Uint8Array): FreshKey {
  const pair: Signer = {
    publicKey,
    keyId: keyIdOf(publicKey),
    sign() {
      throw new SihlError('USAGE', `the private key of ${name} is not in this workspace`);
    },
    close() {},
  };
  return {
    name,
    pair,
    publicOnly: true,
    async write(workspace, folder) {
      const dir = keysOf(workspace, folder);
      await writeFileAtomic(
        join(dir, `${name}.pub`),
        encodePublicKeyFile({ kind: 'signing', name, sign: publicKey }),
        { overwrite: true },
      );
      await rm(join(dir, `${name}.key`), { force: true });
      await rm(join(dir, `${name}.pkcs11`), { force: true });
    },
  };
}
