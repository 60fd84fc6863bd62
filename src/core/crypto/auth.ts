// crypto_auth (HMAC-SHA-512-256): a secret-key tag over records that a device keeps on flash an
// attacker may write, e.g. its boot state (docs/BOOT.md §Boot state). The key never leaves the secure
// element; verification is libsodium's, in constant time.
import { SihlError } from '../errors.ts';
import { randomBytes, sodium } from './sodium.ts';

export const AUTH_KEY_BYTES = 32;
export const AUTH_TAG_BYTES = 32;

export function generateAuthKey(): Uint8Array {
  return randomBytes(AUTH_KEY_BYTES);
}

export function authTag(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (key.length !== AUTH_KEY_BYTES) throw new SihlError('INTERNAL', 'an authentication key is 32 bytes');
  const out = new Uint8Array(AUTH_TAG_BYTES);
  sodium.crypto_auth(out, message, key);
  return out;
}

export function authVerify(key: Uint8Array, message: Uint8Array, tag: Uint8Array): boolean {
  if (key.length !== AUTH_KEY_BYTES) throw new SihlError('INTERNAL', 'an authentication key is 32 bytes');
  if (tag.length !== AUTH_TAG_BYTES) return false;
  return sodium.crypto_auth_verify(tag, message, key);
}
