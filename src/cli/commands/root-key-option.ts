// `--root-key FILE|URI` of every root operation: root keys come from offline storage or a token, never
// from the workspace. A key file opens with its own passphrase (SIHL_PASSPHRASE_<NAME>, NAME as the key
// file records it: root-2 → SIHL_PASSPHRASE_ROOT_2); a pkcs11: URI with the token's PIN (tokens.ts).
import { closeSigners, type SigningKey } from '../../core/crypto/index.ts';
import { openRootKeyFile } from '../../publisher/root-keys.ts';
import { type Context, strings, type Values } from '../command.ts';
import { pathIn } from '../files.ts';
import { keyPassphrase } from '../passphrase.ts';
import { isPkcs11Reference, openTokenKey } from '../tokens.ts';

export const rootKeyOption = {
  'root-key': {
    type: 'string',
    multiple: true,
    value: 'FILE|URI',
    help: 'a root private key file (kept outside the workspace) or a pkcs11: URI that signs',
  },
} as const;

export const ceremonyOption = {
  ceremony: {
    type: 'string',
    value: 'FILE',
    help: 'plan the change into a ceremony file for the root key holders to sign in turn',
  },
} as const;

/** Opens every `--root-key`; refuses a key file inside `workspaceDir`. The caller closes them. */
export async function openRootKeys(
  values: Values,
  context: Context,
  workspaceDir: string | undefined,
): Promise<SigningKey[]> {
  const keys: SigningKey[] = [];
  try {
    for (const ref of strings(values, 'root-key')) {
      keys.push(
        isPkcs11Reference(ref)
          ? await openTokenKey(context, ref)
          : await openRootKeyFile(workspaceDir, pathIn(context, ref), (name) => keyPassphrase(context, name)),
      );
    }
  } catch (error) {
    closeSigners(keys);
    throw error;
  }
  return keys;
}
