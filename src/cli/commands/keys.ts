// sihl keys generate: a signing key (root or approver) or a device's key pairs, passphrase-protected.
import { join } from 'node:path';
import { keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { NAME_PATTERN } from '../../core/format/target.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { newDeviceKeyFiles, newSigningKeyFiles } from '../../core/keys.ts';
import { type Command, optionalString, requireString } from '../command.ts';
import { pathIn } from '../files.ts';
import { passphraseFor } from '../passphrase.ts';

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
  usage: 'keys generate --name NAME [--kind signing|device] [--out DIR] [--force]',
  details:
    'Writes NAME.key (the private key, locked with a passphrase from SIHL_PASSPHRASE or a prompt) and NAME.pub\n' +
    '(the public key, to share). Real devices make their keys inside their secure element; --kind device is\n' +
    'for simulations and tests.',
  options: {
    name: { type: 'string', value: 'NAME', help: 'file name stem and label of the key' },
    kind: { type: 'string', value: 'KIND', help: 'signing (default) or device' },
    out: { type: 'string', value: 'DIR', help: 'folder to write into (default: current folder)' },
    force: { type: 'boolean', help: 'replace existing files' },
  },
  async run(values, _positionals, context) {
    const name = requireString(values, 'name');
    if (!NAME_PATTERN.test(name)) {
      throw new SihlError('USAGE', '--name must be 1 to 64 of A-Z a-z 0-9 . _ -');
    }
    const kind = optionalString(values, 'kind') ?? 'signing';
    if (kind !== 'signing' && kind !== 'device')
      throw new SihlError('USAGE', '--kind must be signing or device');
    const dir = pathIn(context, optionalString(values, 'out') ?? '.');
    const passphrase = await passphraseFor(context, `for the new key ${name}`, true);
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
