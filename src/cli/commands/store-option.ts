// `--store LOCATION` for the commands that publish (release publish, timestamp refresh, key changes,
// rollout changes): the library's use cases mirror to that store, or to sihl.json's, when they are done
// (src/publisher/cloud-store.ts). Here only the option, its typed form and how a mirror is shown.
import type { Pushed, StoreChoice } from '../../publisher/cloud-store.ts';
import { type Context, optionalString, type Values } from '../command.ts';

export const storeOption = {
  store: {
    type: 'string',
    value: 'LOCATION',
    help: 'publish there instead of the store in sihl.json: azure://ACCOUNT/CONTAINER[/PREFIX], s3://BUCKET[/PREFIX] or a folder',
  },
} as const;

/** Where to mirror, with the command's folder, environment (credentials) and upload progress. */
export function storeChoice(values: Values, context: Context): StoreChoice {
  const store = optionalString(values, 'store');
  return {
    ...(store === undefined ? {} : { store }),
    cwd: context.cwd,
    env: context.env,
    ...(context.progress
      ? { onUpload: (done: number, total: number) => context.progress?.('uploading', done, total) }
      : {}),
    onNotice: (text: string) => context.notice?.(text),
  };
}

export function renderPushed(pushed: Pushed | undefined): string {
  if (pushed === undefined) return '';
  return `\nmirrored to ${pushed.location}: ${pushed.uploaded} file(s) uploaded (${pushed.bytes} bytes), ${pushed.unchanged} already there`;
}
