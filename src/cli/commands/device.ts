// sihl device provision | list | revoke: the vendor's registry of devices (the article's initial set-up).
import { checkBoxPublicKey, checkSigningPublicKey } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { checkModel } from '../../core/format/manifest.ts';
import { DEFAULT_CHANNEL } from '../../core/format/target.ts';
import { decodePublicKeyFile } from '../../core/keys.ts';
import { LIMITS } from '../../core/limits.ts';
import { type Device, openRegistry } from '../../publisher/registry.ts';
import { type Command, integer, onePositional, optionalString, requireString } from '../command.ts';
import { pathIn, readInput } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { issueSealedLogCredential } from './log-option.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

function b64(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string') throw new SihlError('KEY_FILE_MALFORMED', `${what} is missing`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/** A device's public identity: a sihl device public key file, or `sihl sim device identity --json`. */
function parseIdentity(bytes: Uint8Array, model: string | undefined) {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SihlError('KEY_FILE_MALFORMED', 'not a device identity (JSON expected)');
  }
  if (json.sihl === 'public-key') {
    const info = decodePublicKeyFile(bytes);
    if (info.kind !== 'device' || !info.sign || !info.box)
      throw new SihlError('KEY_WRONG_KIND', `a ${info.kind} key is not a device identity`);
    if (!model) throw new SihlError('USAGE', 'a device public key file says no model: give --model');
    return { sign: info.sign, box: info.box, model: checkModel(model) };
  }
  const found = typeof json.model === 'string' ? json.model : undefined;
  if (model && found && model !== found)
    throw new SihlError('USAGE', `the identity is of a ${found}, not a ${model}`);
  const chosen = model ?? found;
  if (!chosen) throw new SihlError('USAGE', 'the identity says no model: give --model');
  return {
    sign: checkSigningPublicKey(b64(json.sign, 'sign'), 'the Ed25519 key'),
    box: checkBoxPublicKey(b64(json.box, 'box'), 'the X25519 key'),
    model: checkModel(chosen),
  };
}

const view = (d: Device) => ({
  idx: d.idx,
  id: d.id,
  model: d.model,
  channel: d.channel,
  owner: d.owner,
  provisioned: new Date(d.provisionedAt * 1000).toISOString(),
  revoked: d.revokedAt === null ? null : new Date(d.revokedAt * 1000).toISOString(),
});

export const deviceProvision: Command<ReturnType<typeof view> & { logTable?: string }> = {
  path: ['device', 'provision'],
  summary:
    'Register a device from the public identity its secure element produced, with its model and owner.',
  usage:
    'device provision --identity FILE --owner OWNER [--model M] [--channel C] [--log-credential FILE [--log azure://ACCOUNT/TABLE]] [--workspace DIR] [--json]',
  details: prose`
    FILE is the output of \`sihl sim device identity --json\` or a device .pub file (then give --model).
    The device's trust anchors (trust/root.json) are written into it when it is made: \`sihl sim device
    create --root trust/root.json\`. Its registration index locates its key envelopes. --channel is the
    release channel its agent follows (agent.json, \`sihl sim device configure --channel\`): only
    releases published on it count the device's reports (docs/ROLLOUTS.md §What counts).
    --log-credential writes the device's own log-table SAS (add only, its partition only, 90 days), sealed
    to the device, for \`sihl sim device configure --log-credential\`; the account key comes from the
    environment (docs/CLOUD.md).
  `,
  options: {
    ...optionLines(`
      --identity FILE        the device's public identity
      --owner OWNER          who the device belongs to
      --model M              device model, when the identity does not say
      --channel C            release channel its agent follows (default ${DEFAULT_CHANNEL})
      --log-credential FILE  write the device's log-table SAS there, sealed to the device
      --log LOCATION         the log table, instead of "log" in sihl.json
    `),
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    const path = requireString(values, 'identity');
    const identity = await (async () => {
      try {
        return parseIdentity(
          await readInput(context, path, LIMITS.keyFileBytes),
          optionalString(values, 'model'),
        );
      } catch (error) {
        throw error instanceof SihlError ? error.about(path) : error;
      }
    })();
    const registry = openRegistry(workspace.registryPath);
    let device: Device;
    try {
      const { id } = registry.provision({
        ...identity,
        channel: optionalString(values, 'channel') ?? DEFAULT_CHANNEL,
        owner: requireString(values, 'owner'),
        now: Math.floor(Date.now() / 1000),
      });
      device = registry.get(id) as Device;
    } finally {
      registry.close();
    }
    const output = optionalString(values, 'log-credential');
    if (output === undefined) return view(device);
    const logTable = await issueSealedLogCredential(workspace, device, {
      output: pathIn(context, output),
      location: optionalString(values, 'log'),
      context,
    });
    return { ...view(device), logTable };
  },
  render: (d) =>
    `provisioned device ${d.id.slice(0, 16)}… (${d.model}, channel ${d.channel}, owner ${d.owner}) as number ${d.idx}` +
    (d.logTable ? `\nits sealed log credential is for ${d.logTable}` : ''),
};

export const deviceList: Command<{ devices: ReturnType<typeof view>[]; total: number }> = {
  path: ['device', 'list'],
  summary: 'List registered devices.',
  usage:
    'device list [--model M] [--channel C] [--revoked] [--limit N] [--offset N] [--workspace DIR] [--json]',
  options: {
    ...optionLines(`
      --model M    only this model
      --channel C  only devices of this release channel
      --revoked    include revoked devices
      --limit N    at most N devices (default 100)
      --offset N   skip the first N
    `),
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    const registry = openRegistry(workspace.registryPath);
    try {
      const model = optionalString(values, 'model');
      const channel = optionalString(values, 'channel');
      const devices = registry.list({
        ...(model ? { model } : {}),
        ...(channel ? { channel } : {}),
        includeRevoked: values.revoked === true,
        limit: integer(values, 'limit', 100, 1, 100_000),
        offset: integer(values, 'offset', 0),
      });
      return { devices: devices.map(view), total: registry.count() };
    } finally {
      registry.close();
    }
  },
  render: (r) =>
    [
      ...r.devices.map(
        (d) =>
          `${String(d.idx).padStart(6)}  ${d.id.slice(0, 16)}…  ${d.model.padEnd(14)} ${d.channel.padEnd(8)} ${d.owner}${d.revoked ? `  revoked ${d.revoked}` : ''}`,
      ),
      `${r.devices.length} shown of ${r.total} registered`,
    ].join('\n'),
};

type Revoked = ReturnType<typeof view> & {
  /** The log table's stored access policy withdrawn with it, and its successor; null without a log table. */
  logPolicy: { withdrawn: string; current: string } | null;
};

export const deviceRevoke: Command<Revoked> = {
  path: ['device', 'revoke'],
  summary:
    'Revoke a device: no envelope, no log credential, no count in any figure, and a signed revocation.',
  usage: 'device revoke ID [--workspace DIR]',
  details: prose`
    Later releases list the device as revoked in their signed metadata and seal it nothing. With a log
    table ("log": "azure://ACCOUNT/TABLE" in sihl.json), the stored access policy every device log SAS
    is bound to is withdrawn at once (this needs the account key, as publishing does): the revoked
    device's SAS stops working, and the other devices' SAS too until the next \`release publish\`
    renews them (their reports wait in their outbox meanwhile).
  `,
  options: { ...workspaceOption },
  async run(values, positionals, context) {
    const workspace = await openWorkspace(values, context);
    const id = onePositional(positionals, 'ID');
    const registry = openRegistry(workspace.registryPath);
    let device: Device;
    try {
      device = registry.revoke(id, Math.floor(Date.now() / 1000));
    } finally {
      registry.close();
    }
    const location = workspace.logLocation;
    if (location?.kind !== 'azure') return { ...view(device), logPolicy: null };
    const { withdrawDeviceLogCredentials } = await import('../../storage/device-log-credential.ts');
    const logPolicy = await withdrawDeviceLogCredentials(location, context.env).catch((error: unknown) => {
      throw new SihlError(
        'STORE_DENIED',
        `device ${id.slice(0, 16)}… is revoked in the registry, but its log SAS still works: the access policy of table ${location.table} could not be withdrawn (${(error as Error).message}); set AZURE_STORAGE_KEY and run \`sihl device revoke ${id}\` again`,
      );
    });
    return { ...view(device), logPolicy };
  },
  render: (d) =>
    `revoked device ${d.id.slice(0, 16)}… (${d.model}, owner ${d.owner})` +
    (d.logPolicy
      ? `\nlog table: policy ${d.logPolicy.withdrawn} withdrawn, every device log SAS renews with the next release (${d.logPolicy.current})`
      : ''),
};
