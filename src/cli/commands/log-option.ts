// Device logs in Azure Table Storage for the CLI: `--log LOCATION` (or "log" in sihl.json) where fleet
// status reads, and each device's own sealed log credential at provisioning (docs/CLOUD.md).
import { SihlError } from '../../core/errors.ts';
import { sealCredential } from '../../core/format/credential.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import type { Device } from '../../publisher/registry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import { type LogLocation, parseLogLocation } from '../../storage/locations.ts';
import type { Context } from '../command.ts';

export const logOption = {
  log: {
    type: 'string',
    value: 'LOCATION',
    help: 'device logs: azure://ACCOUNT/TABLE or a SQLite file (default: "log" in sihl.json, or logs.db)',
  },
} as const;

/** `--log`, else sihl.json's "log", else undefined (the embedded logs.db). */
export function logLocationOf(workspace: Workspace, text: string | undefined, context: Context) {
  return text === undefined ? workspace.logLocation : parseLogLocation(text, context.cwd);
}

/**
 * Issues `device`'s log SAS and writes it, sealed to the device's X25519 key, to `output`: only that
 * device can open it, so the file holds no secret for anyone else. Returns the table URL for agent.json.
 */
export async function issueSealedLogCredential(
  workspace: Workspace,
  device: Device,
  options: { readonly output: string; readonly location: string | undefined; readonly context: Context },
): Promise<string> {
  const location: LogLocation | undefined = logLocationOf(workspace, options.location, options.context);
  if (location?.kind !== 'azure') {
    throw new SihlError(
      'USAGE',
      '--log-credential needs a log table: --log azure://ACCOUNT/TABLE or "log" in sihl.json',
    );
  }
  const { deviceLogIssuer } = await import('../../storage/device-log-credential.ts');
  const issuer = await deviceLogIssuer(location, options.context.env);
  const box = sealCredential(issuer.issue(device.id).sas, device.box);
  await writeFileAtomic(options.output, box, { overwrite: true });
  return issuer.tableUrl;
}
