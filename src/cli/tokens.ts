// Keys on a PKCS#11 token from the command line: a `pkcs11:token=…;object=…` reference wherever a signing
// key file is taken. The token's library comes from the reference's module-path or SIHL_PKCS11_MODULE;
// the PIN from the reference's pin-source file, SIHL_PKCS11_PIN_FILE, SIHL_PKCS11_PIN, or the terminal.
import { resolve } from 'node:path';
import type { Signer } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { readSecretFile } from '../core/fs.ts';
import { generateTokenKey, openTokenSigner, type Pkcs11Options } from '../core/token/pkcs11-signer.ts';
import {
  formatPkcs11Reference,
  isPkcs11Reference,
  type Pkcs11Reference,
  parsePkcs11Reference,
} from '../core/token/pkcs11-uri.ts';
import type { TokenKeyOption } from '../publisher/fresh-key.ts';
import type { Context } from './command.ts';

export { isPkcs11Reference };

const MAX_PIN_BYTES = 256;

const pathIn = (context: Context, path: string) => resolve(context.cwd, path);

async function tokenOptions(context: Context, ref: Pkcs11Reference): Promise<Pkcs11Options> {
  const modulePath = context.env.SIHL_PKCS11_MODULE;
  const options = modulePath ? { modulePath: pathIn(context, modulePath) } : {};
  if (ref.pinSource) return options;
  const pinFile = context.env.SIHL_PKCS11_PIN_FILE;
  if (pinFile) {
    const path = pathIn(context, pinFile);
    const bytes = await readSecretFile(path, MAX_PIN_BYTES).catch((error) => {
      throw naming(path, error);
    });
    return { ...options, pin: new TextDecoder().decode(bytes).replace(/\r?\n$/, '') };
  }
  const pin = context.env.SIHL_PKCS11_PIN;
  if (pin) return { ...options, pin };
  if (!context.prompt) {
    throw new SihlError(
      'PASSPHRASE_MISSING',
      `a PIN is needed for ${formatPkcs11Reference(ref)}: set SIHL_PKCS11_PIN_FILE or run in a terminal`,
    );
  }
  return { ...options, pin: await context.prompt(`PIN for token ${ref.token}: `) };
}

function resolved(context: Context, ref: Pkcs11Reference): Pkcs11Reference {
  return {
    ...ref,
    ...(ref.modulePath ? { modulePath: pathIn(context, ref.modulePath) } : {}),
    ...(ref.pinSource ? { pinSource: pathIn(context, ref.pinSource) } : {}),
  };
}

/** Opens the token key a `pkcs11:` reference names. */
export async function openTokenKey(context: Context, text: string): Promise<Signer> {
  const ref = resolved(context, parsePkcs11Reference(text));
  return openTokenSigner(ref, await tokenOptions(context, ref));
}

/** Makes a new Ed25519 key on the token under the reference's object label; returns its public key. */
export async function makeTokenKey(context: Context, text: string): Promise<Uint8Array> {
  const ref = resolved(context, parsePkcs11Reference(text));
  return generateTokenKey(ref, await tokenOptions(context, ref));
}

/** A token reference for a workspace key: the library path made absolute; the PIN asked for when needed. */
export function tokenKeyOption(context: Context, text: string): TokenKeyOption {
  const parsed = resolved(context, parsePkcs11Reference(text));
  const modulePath = parsed.modulePath ?? context.env.SIHL_PKCS11_MODULE;
  if (!modulePath) {
    throw new SihlError(
      'USAGE',
      'a workspace token key needs module-path=FILE in its reference or SIHL_PKCS11_MODULE',
    );
  }
  const ref = { ...parsed, modulePath: pathIn(context, modulePath) };
  return {
    ref,
    pin: async () => {
      const options = await tokenOptions(context, ref);
      return options.pin ?? '';
    },
  };
}
