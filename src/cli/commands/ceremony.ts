// sihl ceremony show | sign | apply: a key change signed by root keys that different people hold, one
// after another (docs/WORKSPACE.md §Root key ceremony). `keys add|remove|rotate … --ceremony FILE` plans it.
import { closeSigners, keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { applyCeremony, readCeremony, signCeremony } from '../../publisher/ceremony.ts';
import type { KeyChangeResult } from '../../publisher/rotation.ts';
import type { Command } from '../command.ts';
import { pathIn } from '../files.ts';
import { prose } from '../option-lines.ts';
import { keyPassphrase } from '../passphrase.ts';
import { type PlannedCeremony, plannedCeremony, renderPlanned } from './ceremony-view.ts';
import { openRootKeys, rootKeyOption } from './root-key-option.ts';
import { storeChoice, storeOption } from './store-option.ts';
import {
  type ChangeResult,
  changeResult,
  openWorkspace,
  renderChange,
  workspaceOption,
} from './workspace.ts';

export const ceremonyShow: Command<PlannedCeremony> = {
  path: ['ceremony', 'show'],
  summary: 'Show what a ceremony file changes, the bytes root keys sign, who signed and what is missing.',
  usage: 'ceremony show FILE [--json]',
  details: prose`
    The words are worked out from the bytes to sign (approver and root key ids, versions, thresholds):
    compare the key ids with the ones you expect before you sign. A changed file is refused.
  `,
  options: {},
  async run(_values, positionals, context) {
    const file = onlyFile(positionals);
    return plannedCeremony(file, await readCeremony(pathIn(context, file)));
  },
  render: renderPlanned,
};

function onlyFile(positionals: string[]): string {
  if (positionals.length !== 1) throw new SihlError('USAGE', 'name one ceremony FILE');
  return positionals[0] as string;
}

export const ceremonySign: Command<PlannedCeremony & { added: string }> = {
  path: ['ceremony', 'sign'],
  summary: "Add one root key's signatures to a ceremony file (no workspace needed).",
  usage: 'ceremony sign FILE --root-key FILE|URI [--json]',
  details: prose`
    Run by each root key holder on their own machine: the key file opens with its own passphrase
    (SIHL_PASSPHRASE_<NAME>, NAME as the key file records it) or the token with its PIN. Refuses a key the
    ceremony does not name, a key that signed already, and a file changed since it was planned or signed.
    The file is rewritten atomically and holds no private material.
  `,
  options: { ...rootKeyOption },
  async run(values, positionals, context) {
    const file = pathIn(context, onlyFile(positionals));
    await readCeremony(file); // a tampered file is refused before any passphrase is asked for
    const keys = await openRootKeys(values, context, undefined);
    try {
      if (keys.length !== 1)
        throw new SihlError('USAGE', 'give exactly one --root-key: each holder signs with their own');
      const key = keys[0] as (typeof keys)[number];
      const ceremony = await signCeremony(file, key);
      const keyId = toHex(keyIdOf(key.publicKey));
      const added = plannedCeremony(file, ceremony).signedBy.find((s) => s.keyId === keyId)?.name ?? keyId;
      return { ...plannedCeremony(file, ceremony), added };
    } finally {
      closeSigners(keys);
    }
  },
  render: (r) => `${r.added} signed\n${renderPlanned(r)}`,
};

export const ceremonyApply: Command<ChangeResult> = {
  path: ['ceremony', 'apply'],
  summary: 'Apply a ceremony signed by enough root keys in the workspace it was planned in.',
  usage: 'ceremony apply FILE [FILE …] [--store LOCATION] [--workspace DIR] [--json]',
  details: prose`
    Refuses when the workspace changed since the ceremony was planned, when the bytes in the file are not
    what the change works out to here, or when a threshold is not met; then applies the change exactly as
    keys add|remove|rotate with --root-key would. Several copies of one ceremony, each signed by someone
    else, may be given together.
  `,
  options: { ...storeOption, ...workspaceOption },
  async run(values, positionals, context) {
    if (positionals.length === 0) throw new SihlError('USAGE', 'name the ceremony FILE');
    const workspace = await openWorkspace(values, context);
    const result = await applyCeremony(
      workspace,
      positionals.map((f) => pathIn(context, f)),
      { passphrases: (name) => keyPassphrase(context, name), ...storeChoice(values, context) },
    );
    return changeResult(changeKind(result), result);
  },
  render: renderChange,
};

function changeKind(result: KeyChangeResult): ChangeResult['change'] {
  if (result.retiredKeyId === undefined) return 'add';
  return result.publicKey ? 'rotate' : 'remove';
}
