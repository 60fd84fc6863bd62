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

export interface KdfCost {
  readonly opslimit: number;
  readonly memlimit: number;
}

/**
 * libsodium's INTERACTIVE cost (2 passes, 64 MiB): about 0.2 s per guess per core. For keys a process
 * must open unattended (the online timestamp and snapshot keys) and for device and content keys.
 */
export const DEFAULT_KDF_COST: KdfCost = {
  opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE,
  memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE,
};

/**
 * libsodium's MODERATE cost (3 passes, 256 MiB): about 1 s per guess per core. For the keys that can
 * ship firmware or change trust, root and approvers, which a person unlocks by hand.
 */
export const SIGNING_KDF_COST: KdfCost = {
  opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE,
  memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE,
};

/** libsodium's minimum (1 pass, 8 KiB): no protection at all; only for tests, through insecureTestCost. */
export const INSECURE_TEST_KDF_COST: KdfCost = {
  opslimit: sodium.crypto_pwhash_OPSLIMIT_MIN,
  memlimit: sodium.crypto_pwhash_MEMLIMIT_MIN,
};

/** The environment variable that makes every new key file worthless against guessing; tests set it. */
export const INSECURE_TEST_KDF_VARIABLE = 'SIHL_INSECURE_TEST_KDF';

/**
 * The cost to lock a new key file with: `wanted`, unless the process runs with SIHL_INSECURE_TEST_KDF=1,
 * which the test suite sets so that making a key takes microseconds. The name says what it does.
 */
export function keyFileCost(
  wanted: KdfCost,
  env: Readonly<Record<string, string | undefined>> = process.env,
) {
  return env[INSECURE_TEST_KDF_VARIABLE] === '1' ? INSECURE_TEST_KDF_COST : wanted;
}

const MAX_OPSLIMIT = 16;
const MAX_MEMLIMIT = 1024 * 1024 * 1024;

let derivations = 0;

/**
 * How many keys this process has derived from passphrases (Argon2id runs, whatever their cost): tests
 * observe with it that a use case opens each key file once.
 */
export function kdfDerivations(): number {
  return derivations;
}

async function deriveKey(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  if (passphrase.length === 0) throw new SihlError('PASSPHRASE_MISSING', 'the passphrase is empty');
  derivations += 1;
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
  cost: KdfCost = DEFAULT_KDF_COST,
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
