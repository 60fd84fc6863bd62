// sihl fleet status: per device its latest report and error, per release how many devices run it.
import { type FleetStatus, openWorkspaceLogStore, readFleetStatus } from '../../publisher/fleet.ts';
import { type Command, optionalString } from '../command.ts';
import { prose } from '../option-lines.ts';
import { logLocationOf, logOption } from './log-option.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

export const fleetStatus: Command<FleetStatus> = {
  path: ['fleet', 'status'],
  summary: 'Show what each device last reported, and how many devices run each published release.',
  usage: 'fleet status [--log LOCATION] [--workspace DIR] [--json]',
  details: prose`
    Reports come from the log store: logs.db in the workspace, filled by \`sihl serve\`, or the Azure table
    devices write to (--log or "log" in sihl.json; credentials from the environment). Every entry is
    verified again against the registered key of its device; entries that do not verify are not counted
    and are listed as flagged.
  `,
  options: { ...logOption, ...workspaceOption },
  async run(values, _positionals, context) {
    const workspace = await openWorkspace(values, context);
    const location = logLocationOf(workspace, optionalString(values, 'log'), context);
    const logStore = await openWorkspaceLogStore(workspace, context.env, location);
    try {
      return await readFleetStatus(workspace, logStore);
    } finally {
      await logStore.close();
    }
  },
  render(status) {
    const lines = ['devices:'];
    for (const d of status.devices) {
      const error = d.lastError ? `  last error ${d.lastError.reason} at ${d.lastError.at}` : '';
      lines.push(
        `  ${d.id.slice(0, 16)}…  ${d.model.padEnd(12)} ${d.owner.slice(0, 20).padEnd(20)} ` +
          `${(d.running ?? '-').padEnd(10)} ${d.lastReport ? `${d.lastOutcome} ${d.lastReport}` : 'no report yet'}` +
          `${d.revoked ? '  revoked' : ''}${error}`,
      );
    }
    if (status.devices.length === 0) lines.push('  none registered');
    lines.push('releases:');
    for (const r of status.releases)
      lines.push(`  ${r.target.padEnd(40)} ${r.channel.padEnd(8)} ${r.running} running`);
    if (status.releases.length === 0) lines.push('  none published');
    if (status.flagged.length > 0) {
      lines.push(`flagged (${status.flagged.length} entries not counted):`);
      for (const f of status.flagged.slice(0, 20))
        lines.push(`  ${f.deviceId.slice(0, 16)}…  ${f.received}  ${f.problem}`);
    }
    return lines.join('\n');
  },
};
