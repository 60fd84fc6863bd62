// sihl's Ed25519 keys in TUF's form (spec §4.2 "KEYS"): a key object with keytype and scheme 'ed25519'
// and the 32-byte public key in hex, named by the SHA-256 of its canonical JSON. Signing stays in
// src/core/crypto; a Signer only carries a key pair's public half and a way to sign with it.
import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { asSigner, checkSigningPublicKey, type SigningKey, sha256, verify } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { fromHex, toHex, utf8 } from '../../core/format/bytes.ts';

export const TUF_KEY_TYPE = 'ed25519';
export const TUF_KEY_SCHEME = 'ed25519';

/** Signs TUF metadata: the canonical JSON bytes of a `signed` object in, a 64-byte signature out. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}

export function signerFrom(key: SigningKey): Signer {
  const signer = asSigner(key);
  checkSigningPublicKey(signer.publicKey);
  return { publicKey: signer.publicKey, sign: (data) => signer.sign(data) };
}

/** The key object exactly as it appears in root.json, before its id is attached. */
function keyObject(publicKey: Uint8Array): { keytype: string; scheme: string; keyval: { public: string } } {
  return { keytype: TUF_KEY_TYPE, scheme: TUF_KEY_SCHEME, keyval: { public: toHex(publicKey) } };
}

/** The TUF key id: hex SHA-256 of the key object's canonical JSON (spec §4.2, "KEYID"). */
export function tufKeyIdOf(publicKey: Uint8Array): string {
  checkSigningPublicKey(publicKey);
  return toHex(sha256(utf8.encode(canonicalize(keyObject(publicKey)))));
}

export function tufKeyOf(publicKey: Uint8Array): Key {
  const object = keyObject(checkSigningPublicKey(publicKey));
  return new Key({
    keyID: tufKeyIdOf(publicKey),
    keyType: object.keytype,
    scheme: object.scheme,
    keyVal: { ...object.keyval },
  });
}

/**
 * The Ed25519 public key inside a TUF key, refused unless it is one sihl could have written: type and
 * scheme ed25519, 64 lowercase hex digits of a valid point, and a key id that matches its content.
 * (tuf-js itself never recomputes key ids and also accepts PEM here; sihl's own checks are stricter.)
 */
export function publicKeyOfTufKey(key: Key): Uint8Array {
  const hex = key.keyVal.public;
  if (key.keyType !== TUF_KEY_TYPE || key.scheme !== TUF_KEY_SCHEME) {
    throw new SihlError('KEY_INVALID', `TUF key ${key.keyID} is ${key.keyType}/${key.scheme}, not ed25519`);
  }
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new SihlError('KEY_INVALID', `TUF key ${key.keyID} does not hold 32 bytes of lowercase hex`);
  }
  const publicKey = checkSigningPublicKey(fromHex(hex), `TUF key ${key.keyID}`);
  if (tufKeyIdOf(publicKey) !== key.keyID) {
    throw new SihlError('KEY_INVALID', `TUF key id ${key.keyID} does not match the key it names`);
  }
  return publicKey;
}

/** Signs and checks the result, so a Signer whose public key does not match its secret is caught here. */
export function signChecked(signer: Signer, data: Uint8Array): Uint8Array {
  const signature = signer.sign(data);
  if (!verify(signer.publicKey, data, signature)) {
    throw new SihlError(
      'SIGNATURE_INVALID',
      `signer ${tufKeyIdOf(signer.publicKey)} made a signature its key does not verify`,
    );
  }
  return signature;
}
