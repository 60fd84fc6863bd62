// sihl root create and sihl delegation create: the trust a device pins, and the approver keys that root
// delegates to (carried inside every image).
import { asSigner, keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import {
  decodeSignedDelegation,
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../../core/format/delegation.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { encodeRootFile } from '../../core/keys.ts';
import { LIMITS } from '../../core/limits.ts';
import { type Command, integer, requireString, strings } from '../command.ts';
import { loadPublicKey, loadSigningKey, pathIn } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';

async function signingPublicKeys(
  context: Parameters<Command['run']>[2],
  paths: string[],
  what: string,
): Promise<Uint8Array[]> {
  if (paths.length === 0) throw new SihlError('USAGE', `at least one ${what} is required`);
  const keys: Uint8Array[] = [];
  for (const path of paths) {
    const info = await loadPublicKey(context, path);
    if (info.kind !== 'signing' || !info.sign) {
      throw new SihlError('KEY_WRONG_KIND', `expected a signing public key, found a ${info.kind} key`, {
        subject: path,
      });
    }
    if (keys.some((k) => Buffer.compare(k, info.sign as Uint8Array) === 0)) {
      throw new SihlError('USAGE', 'the same key is given twice', { subject: path });
    }
    keys.push(info.sign);
  }
  return keys;
}

interface RootResult {
  file: string;
  threshold: number;
  keyIds: string[];
}

export const rootCreate: Command<RootResult> = {
  path: ['root', 'create'],
  summary: 'Write the root trust file that devices pin: root public keys and how many must sign.',
  usage: 'root create --key ROOT.pub [--key ROOT2.pub ...] [--threshold N] -o root.json [--force]',
  options: optionLines(`
    --key FILE...      a root public key file
    --threshold N      root signatures needed (default 1)
    -o, --output FILE  trust file to write
    --force            replace an existing file
  `),
  async run(values, _positionals, context) {
    const keys = await signingPublicKeys(context, strings(values, 'key'), '--key');
    const threshold = integer(values, 'threshold', 1, 1, keys.length);
    const file = pathIn(context, requireString(values, 'output'));
    await writeFileAtomic(file, encodeRootFile({ keys, threshold }), { overwrite: values.force === true });
    return { file, threshold, keyIds: keys.map((k) => toHex(keyIdOf(k))) };
  },
  render: (r) => `wrote ${r.file}: ${r.threshold} of ${r.keyIds.length} root key(s)`,
};

interface DelegationResult {
  file: string;
  version: number;
  threshold: number;
  approvers: string[];
  rootSignatures: number;
}

export const delegationCreate: Command<DelegationResult> = {
  path: ['delegation', 'create'],
  summary: 'Sign, with root keys, the list of approver keys and their threshold that images carry.',
  usage:
    'delegation create --root-key ROOT.key [--root-key ...] --approver A.pub [--approver ...] [--threshold N] [--version N] -o FILE',
  details: prose`
    Raise --version whenever the approvers change: devices remember the highest version they accepted
    and refuse images that carry an older one.
  `,
  options: optionLines(`
    --root-key FILE...  a root private key that signs
    --approver FILE...  an approver's public key
    --threshold N       approver signatures an image needs (default 2, or 1 with one approver)
    --version N         delegation version (default 1)
    -o, --output FILE   delegation file to write
    --force             replace an existing file
  `),
  async run(values, _positionals, context) {
    const approvers = await signingPublicKeys(context, strings(values, 'approver'), '--approver');
    if (approvers.length > LIMITS.delegatedKeys)
      throw new SihlError('USAGE', `at most ${LIMITS.delegatedKeys} approvers`);
    const threshold = integer(values, 'threshold', Math.min(2, approvers.length), 1, approvers.length);
    const version = integer(values, 'version', 1, 1);
    const rootPaths = strings(values, 'root-key');
    if (rootPaths.length === 0) throw new SihlError('USAGE', 'at least one --root-key is required');
    const body = encodeDelegationBody({ version, threshold, keys: approvers });
    const message = delegationMessage(body);
    const signatures = [];
    for (const path of rootPaths) {
      const root = asSigner(await loadSigningKey(context, path));
      try {
        signatures.push({ keyId: root.keyId, signature: root.sign(message) });
      } finally {
        root.close();
      }
    }
    const bytes = encodeSignedDelegation(body, signatures);
    decodeSignedDelegation(bytes);
    const file = pathIn(context, requireString(values, 'output'));
    await writeFileAtomic(file, bytes, { overwrite: values.force === true });
    return {
      file,
      version,
      threshold,
      approvers: approvers.map((k) => toHex(keyIdOf(k))),
      rootSignatures: signatures.length,
    };
  },
  render: (r) =>
    `wrote ${r.file}: delegation version ${r.version}, ${r.threshold} of ${r.approvers.length} approvers, ${r.rootSignatures} root signature(s)`,
};
