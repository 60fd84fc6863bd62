// A secret locked under a passphrase: Argon2id (crypto_pwhash) derives the key, XChaCha20-Poly1305
// encrypts. The KDF cost is stored beside the ciphertext and bounded on load, so a hostile file cannot
// demand gigabytes of memory.
import { SihlError } from '../errors.ts';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, aeadDecrypt, aeadEncrypt } from './aead.ts';
import { randomBytes, sodium, wipe } from './sodium.ts';

export const SALT_BYTES = 16;

export interface KdfParams {
  readonly alg: 'argon2id13';
  readonly opslimit: number;
  readonly memlimit: number;
  readonly salt: Uint8Array;
}

export interface LockedSecret {
  readonly kdf: KdfParams;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Interactive cost (2 passes, 64 MiB): about 0.1 s per key on a laptop. */
export const DEFAULT_KDF_COST = {
  opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE,
  memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE,
};
const MAX_OPSLIMIT = 16;
const MAX_MEMLIMIT = 1024 * 1024 * 1024;

async function deriveKey(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  if (passphrase.length === 0) throw new SihlError('PASSPHRASE_MISSING', 'the passphrase is empty');
  const key = new Uint8Array(AEAD_KEY_BYTES);
  const secret = new TextEncoder().encode(passphrase);
  try {
    await sodium.crypto_pwhash_async(
      key,
      secret,
      kdf.salt,
      kdf.opslimit,
      kdf.memlimit,
      sodium.crypto_pwhash_ALG_ARGON2ID13,
    );
  } finally {
    wipe(secret);
  }
  return key;
}

export function checkKdfParams(kdf: KdfParams): void {
  const ok =
    kdf.alg === 'argon2id13' &&
    Number.isSafeInteger(kdf.opslimit) &&
    Number.isSafeInteger(kdf.memlimit) &&
    kdf.opslimit >= sodium.crypto_pwhash_OPSLIMIT_MIN &&
    kdf.opslimit <= MAX_OPSLIMIT &&
    kdf.memlimit >= sodium.crypto_pwhash_MEMLIMIT_MIN &&
    kdf.memlimit <= MAX_MEMLIMIT &&
    kdf.salt.length === SALT_BYTES;
  if (!ok) throw new SihlError('KEY_FILE_MALFORMED', 'key derivation parameters are missing or out of range');
}

export async function lockSecret(
  secret: Uint8Array,
  passphrase: string,
  ad: Uint8Array,
  cost = DEFAULT_KDF_COST,
): Promise<LockedSecret> {
  const kdf: KdfParams = { alg: 'argon2id13', ...cost, salt: randomBytes(SALT_BYTES) };
  checkKdfParams(kdf); // never write a file that unlockSecret would refuse
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const key = await deriveKey(passphrase, kdf);
  try {
    return { kdf, nonce, ciphertext: aeadEncrypt(key, nonce, secret, ad) };
  } finally {
    wipe(key);
  }
}

/** Throws PASSPHRASE_WRONG when the passphrase (or the file) does not match. */
export async function unlockSecret(
  locked: LockedSecret,
  passphrase: string,
  ad: Uint8Array,
): Promise<Uint8Array> {
  checkKdfParams(locked.kdf);
  const key = await deriveKey(passphrase, locked.kdf);
  try {
    const secret = aeadDecrypt(key, locked.nonce, locked.ciphertext, ad);
    if (secret === null) {
      throw new SihlError('PASSPHRASE_WRONG', 'wrong passphrase, or the key file was altered');
    }
    return secret;
  } finally {
    wipe(key);
  }
}
