// `--store LOCATION` for the commands that publish (release publish, timestamp refresh, key changes): the
// work is done in the workspace's local folder, then mirrored to the store (src/publisher/cloud-store.ts).
import { openPublishTarget, type Pushed, pushToStore } from '../../publisher/cloud-store.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import { type Context, optionalString, type Values } from '../command.ts';

export const storeOption = {
  store: {
    type: 'string',
    value: 'LOCATION',
    help: 'publish there instead of the store in sihl.json: azure://ACCOUNT/CONTAINER[/PREFIX], s3://BUCKET[/PREFIX] or a folder',
  },
} as const;

/** Runs `work` (which writes the staging folder), then mirrors the result to the chosen store. */
export async function publishing<R extends object>(
  workspace: Workspace,
  values: Values,
  context: Context,
  work: () => Promise<R>,
): Promise<R & { store?: Pushed }> {
  const target = await openPublishTarget(workspace, optionalString(values, 'store'), context);
  let result: R;
  try {
    result = await work();
  } catch (error) {
    await target?.store.close();
    throw error;
  }
  if (target === null) return result;
  const store = await pushToStore(
    workspace,
    target,
    context.progress && ((done, total) => context.progress?.('uploading', done, total)),
  );
  return { ...result, store };
}

export function renderPushed(pushed: Pushed | undefined): string {
  if (pushed === undefined) return '';
  return `\nmirrored to ${pushed.location}: ${pushed.uploaded} file(s) uploaded (${pushed.bytes} bytes), ${pushed.unchanged} already there`;
}

/**
 * With device logs in an Azure table (sihl.json "log"), a release renews every device's log SAS; the
 * account key that signs them comes from the environment, like every cloud credential.
 */
export async function logCredentialIssuer(
  workspace: Workspace,
  context: Context,
): Promise<((deviceId: string) => string) | undefined> {
  const location = workspace.logLocation;
  if (location?.kind !== 'azure') return undefined;
  const { deviceLogIssuer } = await import('../../storage/device-log-credential.ts');
  const issuer = await deviceLogIssuer(location, context.env);
  return (deviceId) => issuer.issue(deviceId).sas;
}
