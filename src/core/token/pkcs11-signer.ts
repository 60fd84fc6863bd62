// Ed25519 keys on a PKCS#11 token (an HSM, a YubiHSM, a smart card, a cloud KMS bridge) through the
// pkcs11js library: the key is made on the token and never leaves it (CKA_SENSITIVE, not CKA_EXTRACTABLE);
// signing is CKM_EDDSA (PKCS#11 3.0 §2.3.14), pure Ed25519 as RFC 8032 defines it, so a token's signature
// verifies with libsodium's crypto_sign_verify_detached and its key id is the one a key file would give.
import { createRequire } from 'node:module';
import type * as Pkcs11Js from 'pkcs11js';
import { checkSigningPublicKey, keyIdOf, SIGNATURE_BYTES } from '../crypto/sign.ts';
import type { Signer } from '../crypto/signer.ts';
import { SihlError } from '../errors.ts';
import { readSecretFile } from '../fs.ts';
import { formatPkcs11Reference, type Pkcs11Reference } from './pkcs11-uri.ts';

// PKCS#11 3.0 numbers that pkcs11js 2.1.7 does not name (it predates the Edwards-curve mechanisms).
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
/** DER of the Ed25519 OID 1.3.101.112 (RFC 8410), the CKA_EC_PARAMS of an Ed25519 key. */
const ED25519_PARAMS = Buffer.from([0x06, 0x03, 0x2b, 0x65, 0x70]);
const MAX_PIN_BYTES = 256;

export interface Pkcs11Options {
  /** The token's PKCS#11 library (a .so file); the reference's module-path wins. */
  readonly modulePath?: string;
  /** The user PIN; a reference's pin-source file wins. */
  readonly pin?: string;
}

type Library = typeof Pkcs11Js;
type Session = { readonly p11: Pkcs11Js.PKCS11; readonly session: Buffer; readonly modulePath: string };

/**
 * One initialised library per module path, shared by every key of this process that uses it: PKCS#11
 * allows one C_Initialize per process, and C_Finalize ends every session, so the last user finalises.
 */
const loaded = new Map<string, { readonly p11: Pkcs11Js.PKCS11; users: number }>();

function acquire(ref: Pkcs11Reference, modulePath: string): Pkcs11Js.PKCS11 {
  const known = loaded.get(modulePath);
  if (known) {
    known.users += 1;
    return known.p11;
  }
  const p11 = new (library().PKCS11)();
  try {
    p11.load(modulePath);
  } catch (error) {
    throw fail(ref, `cannot load the PKCS#11 library ${modulePath}`, error);
  }
  try {
    p11.C_Initialize();
  } catch (error) {
    if ((error as { code?: number }).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      p11.close();
      throw fail(ref, 'the PKCS#11 library did not initialise', error);
    }
  }
  loaded.set(modulePath, { p11, users: 1 });
  return p11;
}

function release(modulePath: string, session?: Buffer): void {
  const known = loaded.get(modulePath);
  if (!known) return;
  try {
    if (session) known.p11.C_CloseSession(session);
  } catch {
    // A session the token already dropped needs no closing.
  }
  known.users -= 1;
  if (known.users > 0) return;
  loaded.delete(modulePath);
  try {
    known.p11.C_Finalize();
  } finally {
    known.p11.close();
  }
}

function library(): Library {
  // Loaded on first use: a workspace without tokens never loads the native addon.
  return createRequire(import.meta.url)('pkcs11js') as Library;
}

function fail(ref: Pkcs11Reference, what: string, cause?: unknown): SihlError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new SihlError('USAGE', `${what}${detail}`, { subject: formatPkcs11Reference(ref), cause });
}

async function pinOf(ref: Pkcs11Reference, options: Pkcs11Options): Promise<string> {
  if (ref.pinSource) {
    const text = new TextDecoder().decode(await readSecretFile(ref.pinSource, MAX_PIN_BYTES));
    return text.replace(/\r?\n$/, '');
  }
  if (options.pin) return options.pin;
  throw fail(ref, 'a PIN is needed: give pin-source=FILE in the reference, or set SIHL_PKCS11_PIN_FILE');
}

async function openSession(ref: Pkcs11Reference, options: Pkcs11Options): Promise<Session> {
  const modulePath = ref.modulePath ?? options.modulePath;
  if (!modulePath) {
    throw fail(ref, 'no PKCS#11 library: give module-path=FILE in the reference, or set SIHL_PKCS11_MODULE');
  }
  const pin = await pinOf(ref, options);
  const lib = library();
  const p11 = acquire(ref, modulePath);
  let slot: Buffer | undefined;
  try {
    slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === ref.token);
  } catch (error) {
    release(modulePath);
    throw fail(ref, 'the PKCS#11 library could not list its tokens', error);
  }
  if (!slot) {
    release(modulePath);
    throw fail(ref, `no token labelled "${ref.token}"`);
  }
  const session = p11.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
  try {
    p11.C_Login(session, lib.CKU_USER, pin);
  } catch (error) {
    if ((error as { code?: number }).code !== CKR_USER_ALREADY_LOGGED_IN) {
      release(modulePath, session);
      throw fail(ref, 'the token refused the PIN', error);
    }
  }
  return { p11, session, modulePath };
}

function finish(s: Session): void {
  release(s.modulePath, s.session);
}

function findObject(s: Session, ref: Pkcs11Reference, objectClass: number): Buffer | null {
  const lib = library();
  s.p11.C_FindObjectsInit(s.session, [
    { type: lib.CKA_CLASS, value: objectClass },
    { type: lib.CKA_LABEL, value: ref.object },
  ]);
  try {
    const found = s.p11.C_FindObjects(s.session, 2);
    if (found.length > 1) throw fail(ref, `more than one object labelled "${ref.object}"`);
    return found[0] ?? null;
  } finally {
    s.p11.C_FindObjectsFinal(s.session);
  }
}

/** CKA_EC_POINT of an Edwards key: a DER OCTET STRING around the 32 bytes, or (some tokens) the bare 32. */
function publicKeyOf(s: Session, ref: Pkcs11Reference, handle: Buffer): Uint8Array {
  const lib = library();
  const [point] = s.p11.C_GetAttributeValue(s.session, handle, [{ type: lib.CKA_EC_POINT }]);
  const bytes = point?.value ?? Buffer.alloc(0);
  const raw = bytes.length === 34 && bytes[0] === 0x04 && bytes[1] === 0x20 ? bytes.subarray(2) : bytes;
  try {
    return checkSigningPublicKey(new Uint8Array(raw), 'the token public key');
  } catch (error) {
    throw fail(ref, 'the public key on the token is not an Ed25519 key', error);
  }
}

/** Opens the Ed25519 key that `ref` names; close() logs out of the token. */
export async function openTokenSigner(ref: Pkcs11Reference, options: Pkcs11Options = {}): Promise<Signer> {
  const s = await openSession(ref, options);
  const lib = library();
  try {
    const priv = findObject(s, ref, lib.CKO_PRIVATE_KEY);
    const pub = findObject(s, ref, lib.CKO_PUBLIC_KEY);
    if (!priv || !pub) throw fail(ref, `no key pair labelled "${ref.object}" on token "${ref.token}"`);
    const publicKey = publicKeyOf(s, ref, pub);
    let closed = false;
    return {
      publicKey,
      keyId: keyIdOf(publicKey),
      sign(message) {
        if (closed) throw fail(ref, 'this token key was closed');
        s.p11.C_SignInit(s.session, { mechanism: CKM_EDDSA }, priv);
        const out = s.p11.C_Sign(s.session, Buffer.from(message), Buffer.alloc(SIGNATURE_BYTES));
        if (out.length !== SIGNATURE_BYTES)
          throw fail(ref, 'the token returned a signature of the wrong size');
        return new Uint8Array(out);
      },
      close() {
        if (!closed) finish(s);
        closed = true;
      },
    };
  } catch (error) {
    finish(s);
    throw error;
  }
}

/**
 * Makes a new Ed25519 key pair on the token under `ref`'s object label and returns its public key;
 * refuses if the label is taken. The private key is sensitive and not extractable.
 */
export async function generateTokenKey(
  ref: Pkcs11Reference,
  options: Pkcs11Options = {},
): Promise<Uint8Array> {
  const s = await openSession(ref, options);
  const lib = library();
  try {
    if (findObject(s, ref, lib.CKO_PRIVATE_KEY) || findObject(s, ref, lib.CKO_PUBLIC_KEY)) {
      throw fail(ref, `token "${ref.token}" already holds a key labelled "${ref.object}"`);
    }
    const common = [
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      { type: lib.CKA_LABEL, value: ref.object },
    ];
    const keys = s.p11.C_GenerateKeyPair(
      s.session,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [...common, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_EC_PARAMS, value: ED25519_PARAMS }],
      [
        ...common,
        { type: lib.CKA_SIGN, value: true },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
      ],
    );
    return publicKeyOf(s, ref, keys.publicKey);
  } catch (error) {
    throw error instanceof SihlError ? error : fail(ref, 'the token could not make an Ed25519 key', error);
  } finally {
    finish(s);
  }
}
