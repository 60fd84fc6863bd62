// sihl online create: the folder `sihl serve` and the scheduled jobs run from, holding online keys only.
import { SihlError } from '../../core/errors.ts';
import { createOnlineFolder, type OnlineFolder } from '../../publisher/online-folder.ts';
import type { Command } from '../command.ts';
import { pathIn } from '../files.ts';
import { prose } from '../option-lines.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

export const onlineCreate: Command<OnlineFolder> = {
  path: ['online', 'create'],
  summary: 'Make the online folder that `sihl serve` and scheduled jobs run from: online keys only.',
  usage: 'online create DIR [--workspace DIR] [--json]',
  details: prose`
    DIR gets sihl.json naming the same store, registry and device logs as the workspace, every public
    key, the private keys of the online roles (rollout, snapshot, timestamp; never root or an approver),
    trust/, tls/, and each published release's release.json and content key. DIR must lie outside the
    workspace, links resolved (a link from elsewhere into the workspace is refused). Run it again after
    publishing or a key change to bring DIR up to date; rollout state already in DIR is kept
    (docs/SERVER.md).
  `,
  options: { ...workspaceOption },
  async run(values, positionals, context) {
    if (positionals.length !== 1) throw new SihlError('USAGE', 'name the online folder: online create DIR');
    const workspace = await openWorkspace(values, context);
    return createOnlineFolder(workspace, pathIn(context, positionals[0] as string));
  },
  render: (r) =>
    `${r.updated ? 'brought up to date' : 'made'} the online folder ${r.dir}\n` +
    `store ${r.store}\nonline private keys: ${r.keys.join(', ') || 'none'}\n` +
    `releases: ${r.releases.join(', ') || 'none yet'}\n` +
    `certificate SHA-256 ${r.fingerprint}\nnext: sihl serve --workspace ${r.dir}`,
};
