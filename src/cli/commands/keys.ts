// sihl keys generate: a signing key (root or approver) or a device's key pairs, passphrase-protected.
import { join } from 'node:path';
import { keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { NAME_PATTERN } from '../../core/format/target.ts';
import { exists, writeFileAtomic } from '../../core/fs.ts';
import { encodePublicKeyFile, newDeviceKeyFiles, newSigningKeyFiles } from '../../core/keys.ts';
import { type Command, optionalString, requireString } from '../command.ts';
import { pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { keyPassphrase } from '../passphrase.ts';
import { makeTokenKey } from '../tokens.ts';

interface GenerateResult {
  kind: string;
  name: string;
  privateKey: string;
  publicKey: string;
  keyId?: string;
}

export const keysGenerate: Command<GenerateResult> = {
  path: ['keys', 'generate'],
  summary:
    'Make a new key: a signing key (root or approver) or a device key (separate signing and encryption pairs).',
  usage: 'keys generate --name NAME [--kind signing|device] [--token pkcs11:…] [--out DIR] [--force]',
  details: prose`
    Writes NAME.key (the private key, locked with a passphrase from SIHL_PASSPHRASE or a prompt) and NAME.pub
    (the public key, to share). Real devices make their keys inside their secure element; --kind device is
    for simulations and tests. With --token pkcs11:token=…;object=… the signing key is made on a PKCS#11 token
    and never leaves it; only NAME.pub is written, and the reference signs wherever a key file would.
  `,
  options: optionLines(`
    --name NAME  file name stem and label of the key
    --kind KIND  signing (default) or device
    --token REF  make the signing key on a PKCS#11 token (RFC 7512 URI)
    --out DIR    folder to write into (default: current folder)
    --force      replace existing files
  `),
  async run(values, _positionals, context) {
    const name = requireString(values, 'name');
    if (!NAME_PATTERN.test(name)) {
      throw new SihlError('USAGE', '--name must be 1 to 64 of A-Z a-z 0-9 . _ -');
    }
    const kind = optionalString(values, 'kind') ?? 'signing';
    if (kind !== 'signing' && kind !== 'device')
      throw new SihlError('USAGE', '--kind must be signing or device');
    const dir = pathIn(context, optionalString(values, 'out') ?? '.');
    const token = optionalString(values, 'token');
    if (token !== undefined) {
      if (kind !== 'signing') throw new SihlError('USAGE', '--token makes signing keys only');
      const publicKey = join(dir, `${name}.pub`);
      if (values.force !== true && (await exists(publicKey))) {
        throw new SihlError('FILE_EXISTS', 'file already exists; pass --force to replace it', {
          subject: publicKey,
        });
      }
      const sign = await makeTokenKey(context, token);
      await writeFileAtomic(publicKey, encodePublicKeyFile({ kind: 'signing', name, sign }), {
        overwrite: values.force === true,
      });
      return { kind, name, privateKey: token.replace(/\?.*$/, ''), publicKey, keyId: toHex(keyIdOf(sign)) };
    }
    const passphrase = await keyPassphrase(context, name, true);
    const files =
      kind === 'device'
        ? await newDeviceKeyFiles(name, passphrase)
        : await newSigningKeyFiles(name, passphrase);
    const privateKey = join(dir, `${name}.key`);
    const publicKey = join(dir, `${name}.pub`);
    const overwrite = values.force === true;
    await writeFileAtomic(privateKey, files.privateFile, { mode: 0o600, overwrite });
    await writeFileAtomic(publicKey, files.publicFile, { overwrite });
    return {
      kind,
      name,
      privateKey,
      publicKey,
      ...(files.info.sign ? { keyId: toHex(keyIdOf(files.info.sign)) } : {}),
    };
  },
  render: (r) =>
    `made ${r.kind} key ${r.name}${r.keyId ? ` (key id ${r.keyId.slice(0, 16)}…)` : ''}\n  private: ${r.privateKey}\n  public:  ${r.publicKey}`,
};
