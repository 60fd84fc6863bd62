// sihl sim device configure | run: a simulated device that updates itself. `configure` is provisioning's
// last step (server, pinned certificate, registry index, first TUF root); `run` powers the device on
// (its bootloader finishes whatever is pending), then runs the update agent: poll, download, verify,
// stage, reboot through the bootloader, report; until SIGINT, or after one poll with --once.
import { SihlError } from '../../core/errors.ts';
import { CREDENTIAL_BYTES } from '../../core/format/credential.ts';
import { type PollResult, UpdateAgent } from '../../device/agent/agent.ts';
import { writeAgentConfig } from '../../device/agent/config.ts';
import type { BootReport } from '../../device/bootloader/bootloader.ts';
import { type Command, integer, onePositional, optionalString, requireString } from '../command.ts';
import { pathIn, readInput } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { identityOf, load, save } from './sim-support.ts';

const PEM_MAX = 64 * 1024;
const ROOT_MAX = 512 * 1024;

interface ConfigureResult {
  device: string;
  server: string;
  index: number;
  channel: string;
  interval: number;
  logTable?: string;
}

export const simDeviceConfigure: Command<ConfigureResult> = {
  path: ['sim', 'device', 'configure'],
  summary: "Give a device's update agent its server, pinned certificate, registry index and first root.",
  usage:
    'sim device configure DIR --server URL --certificate CERT.pem --root 1.root.json --index N [--channel C] [--interval SECONDS] [--log-table URL --log-credential FILE] [--replace-root]',
  details: prose`
    Writes DIR/agent.json and DIR/agent/tuf/root.json. --root is the first TUF root of the store
    (store/metadata/1.root.json); a device already configured keeps the root it trusts unless --replace-root.
    --index is the device index \`device provision\` printed. --server may be a folder of a blob store, with a
    read-only SAS as its query (sent with every request). With --log-table and --log-credential (the sealed
    file \`device provision --log-credential\` wrote), reports go to that Azure table, not to the server.
  `,
  options: optionLines(`
    --server URL           https URL of the store
    --certificate FILE     the server's certificate (PEM), pinned
    --root FILE            first trusted TUF root metadata
    --index N              the device's registry index
    --channel C            release channel, as registered (device provision --channel; default stable)
    --interval SECONDS     seconds between polls (default 3600)
    --replace-root         replace the trusted root of a configured device
    --log-table URL        https URL of the Azure table for reports
    --log-credential FILE  the device's sealed log credential
  `),
  async run(values, positionals, context) {
    const dir = pathIn(context, onePositional(positionals, 'DIR'));
    const device = await load(dir); // a device must be there
    const certificate = Buffer.from(
      await readInput(context, requireString(values, 'certificate'), PEM_MAX),
    ).toString('utf8');
    const root = await readInput(context, requireString(values, 'root'), ROOT_MAX);
    if (values.index === undefined) throw new SihlError('USAGE', '--index is required');
    const logTable = optionalString(values, 'log-table');
    const logCredential = optionalString(values, 'log-credential');
    if ((logTable === undefined) !== (logCredential === undefined))
      throw new SihlError('USAGE', '--log-table and --log-credential go together');
    // The device opens its credential inside its secure element; only the SAS it holds goes into agent.json.
    const sas =
      logCredential === undefined
        ? undefined
        : device.secureElement.openCredential(await readInput(context, logCredential, CREDENTIAL_BYTES));
    if (logCredential !== undefined && sas == null)
      throw new SihlError('USAGE', 'the log credential is empty', { subject: logCredential });
    const config = {
      server: requireString(values, 'server'),
      certificate,
      index: integer(values, 'index', 0),
      channel: optionalString(values, 'channel') ?? 'stable',
      interval: integer(values, 'interval', 3600, 1, 30 * 86_400),
      ...(logTable !== undefined && sas ? { log: { table: logTable, sas } } : {}),
    };
    await writeAgentConfig(dir, config, root, { replaceRoot: values['replace-root'] === true });
    return {
      device: dir,
      server: config.server,
      index: config.index,
      channel: config.channel,
      interval: config.interval,
      ...(logTable ? { logTable } : {}),
    };
  },
  render: (r) =>
    `configured ${r.device}: polls ${r.server} every ${r.interval} s, channel ${r.channel}, index ${r.index}`,
};

interface BootSummary {
  outcome: BootReport['outcome'];
  installed: boolean;
  attempts: number;
  reason?: string;
  version: string;
}

interface RunResult {
  device: string;
  id: string;
  polls: number;
  /** The last poll's outcome. */
  outcome: PollResult['outcome'];
  error?: { code: string; message: string };
  /** Every boot of this run: the first at power-on, one more after each staged update. */
  boots: BootSummary[];
  installed: string[];
  running: string;
  requests: number;
  bytes: number;
}

export const simDeviceRun: Command<RunResult> = {
  path: ['sim', 'device', 'run'],
  summary: 'Run a device: boot it, then poll its server, download, stage, reboot and report, until stopped.',
  usage: 'sim device run DIR [--server URL] [--once] [--interval SECONDS]',
  details: prose`
    Needs \`sim device configure\` first. The device boots at once (a pending install is finished) and
    reports; then its agent polls. An update it stages is installed by rebooting through the bootloader,
    and reported. --once: one poll (and its install), then exit; otherwise until SIGINT. A poll that
    fails is reported in the output, with exit code 0; errors back off exponentially.
  `,
  options: optionLines(`
    --server URL        the store URL, instead of the configured one
    --once              poll once, install what it finds, report, exit
    --interval SECONDS  seconds between polls, instead of the configured
  `),
  async run(values, positionals, context) {
    const dir = pathIn(context, onePositional(positionals, 'DIR'));
    const device = await load(dir);
    const server = optionalString(values, 'server');
    const interval =
      values.interval === undefined ? undefined : integer(values, 'interval', 60, 1, 30 * 86_400);
    const agent = await UpdateAgent.open({
      dir,
      device,
      ...(server === undefined ? {} : { server }),
      ...(interval === undefined ? {} : { timing: { interval } }),
      durable: () => save(device, dir),
      ...(context.progress
        ? { onProgress: (done, total) => context.progress?.('downloading', done, total) }
        : {}),
    });
    const boots: BootSummary[] = [];
    const installed: string[] = [];
    const powerOn = async (target?: string) => {
      const report = await device.boot();
      await save(device, dir);
      boots.push({
        outcome: report.outcome,
        installed: report.installed,
        attempts: report.attempts,
        version: report.running.version,
        ...(report.reason ? { reason: report.reason } : {}),
      });
      if (report.installed && target) installed.push(target);
      await agent.reportBoot(report);
      // The agent runs, so the application came up: its self-test passed, and it keeps the new firmware.
      if (report.trial) {
        agent.confirm();
        await save(device, dir);
      }
    };
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    let polls = 0;
    let last: PollResult;
    try {
      await powerOn();
      last = await agent.run({
        signal: controller.signal,
        once: values.once === true,
        onStaged: (result) => powerOn(result.target),
        onPoll: () => {
          polls++;
        },
      });
    } finally {
      process.removeListener('SIGINT', stop);
      agent.close();
    }
    return {
      device: dir,
      id: identityOf(device).id,
      polls,
      outcome: last.outcome,
      ...(last.error ? { error: last.error } : {}),
      boots,
      installed,
      running: device.bootState()?.running.version ?? 'unknown',
      requests: agent.client.stats.requests,
      bytes: agent.client.stats.bytes,
    };
  },
  render: (r) => {
    const what = r.installed.length > 0 ? `installed ${r.installed.join(', ')}` : r.outcome;
    const error = r.error ? ` [${r.error.code}] ${r.error.message}` : '';
    return `${r.id.slice(0, 16)}…: ${what}${error}; running ${r.running} (${r.polls} poll(s), ${r.requests} requests, ${r.bytes} bytes)`;
  },
};
