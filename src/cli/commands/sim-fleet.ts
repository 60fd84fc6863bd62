// sihl sim fleet: many simulated devices in one process. First (--provision-only) they are made and
// registered in the workspace, before a release is published, so that publishing seals an envelope for
// each; later they run their update agents against a server until all run the newest release.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SihlError } from '../../core/errors.ts';
import { checkModel, checkVersion } from '../../core/format/manifest.ts';
import { compareSemver, parseSemver } from '../../core/format/semver.ts';
import { DEFAULT_CHANNEL } from '../../core/format/target.ts';
import { exists } from '../../core/fs.ts';
import { type FleetResult, simulateFleet } from '../../device/simulator/fleet.ts';
import {
  fleetDescriptionPath,
  loadFleet,
  makeDevices,
  saveFleet,
} from '../../device/simulator/fleet-file.ts';
import { SectorPool } from '../../device/simulator/parked-flash.ts';
import { ensureServerCertificate, loadServerCertificate } from '../../publisher/certificate-files.ts';
import { newestPublished, readPublished } from '../../publisher/published.ts';
import { openRegistry } from '../../publisher/registry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import { startService } from '../../server/service.ts';
import {
  type Command,
  type Context,
  integer,
  optionalString,
  requireString,
  type Values,
} from '../command.ts';
import { loadRoot, pathIn, readInput } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { openWorkspace, workspaceOption } from './workspace.ts';

const FIRMWARE_MAX = 32 * 1024 * 1024;
const DEVICES_MAX = 1_000_000;
const PEM_MAX = 64 * 1024;
const ROOT_MAX = 512 * 1024;
const FLEET_DIR = 'sim-fleet';

export interface ProvisionedFleet {
  readonly phase: 'provisioned';
  readonly fleet: string;
  readonly devices: number;
  readonly model: string;
  readonly version: string;
  readonly firstIdx: number;
  readonly lastIdx: number;
  readonly ms: number;
}

export interface FleetRun extends Omit<FleetResult, 'devices'> {
  readonly phase: 'ran';
  readonly server: string;
  /** The server was started by this command, in this process. */
  readonly embedded: boolean;
  readonly model: string;
  readonly from: string;
  readonly target: string;
  /** CPU time of this process (with an embedded server: server and simulator together). */
  readonly cpuMs: number;
  /** Peak RSS of this process, KiB. */
  readonly peakRssKiB: number;
  readonly devices: FleetResult['devices'];
}

/** A share given in percent, like every rate on sihl's command line; returned as a fraction. */
function rate(values: Values, name: string): number {
  const value = optionalString(values, name);
  if (value === undefined) return 0;
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(n >= 0 && n <= 100))
    throw new SihlError('USAGE', `--${name} is a percentage from 0 to 100`);
  return n / 100;
}

function fleetDir(values: Values, context: Context, workspace: Workspace): string {
  const given = optionalString(values, 'fleet');
  return given === undefined ? join(workspace.dir, FLEET_DIR) : pathIn(context, given);
}

async function provision(values: Values, context: Context, count: number): Promise<ProvisionedFleet> {
  const started = performance.now();
  const workspace = await openWorkspace(values, context);
  const dir = fleetDir(values, context, workspace);
  if (await exists(fleetDescriptionPath(dir))) {
    throw new SihlError('FILE_EXISTS', 'a simulated fleet is already there; pass another --fleet', {
      subject: dir,
    });
  }
  const model = checkModel(requireString(values, 'model'));
  const version = checkVersion(requireString(values, 'version'));
  const firmware = await readInput(context, requireString(values, 'firmware'), FIRMWARE_MAX);
  const root = await loadRoot(context, workspace.rootTrustPath);
  const pool = new SectorPool();
  const made = await makeDevices({ model, root, firmware, version, count, pool });
  const owner = optionalString(values, 'owner') ?? 'simulated fleet';
  // Registered on the channel the run's agents will follow (--channel), so their reports count.
  const channel = optionalString(values, 'channel') ?? DEFAULT_CHANNEL;
  const now = Math.floor(Date.now() / 1000);
  const registry = openRegistry(workspace.registryPath);
  let registered: { idx: number; id: string }[];
  try {
    registered = registry.provisionMany(
      made.devices.map((d) => ({ sign: d.sign, box: d.box, model, channel, owner, now })),
    );
  } finally {
    registry.close();
  }
  await saveFleet(dir, {
    model,
    version,
    geometry: made.geometry,
    layout: made.layout,
    firmware,
    members: registered.map((r, n) => ({ ...r, flash: (made.devices[n] as (typeof made.devices)[0]).flash })),
  });
  return {
    phase: 'provisioned',
    fleet: dir,
    devices: count,
    model,
    version,
    firstIdx: registered[0]?.idx ?? 0,
    lastIdx: registered.at(-1)?.idx ?? 0,
    ms: Math.round(performance.now() - started),
  };
}

function newer(a: string, b: string): number {
  const [x, y] = [parseSemver(a), parseSemver(b)];
  if (!x || !y) return a === b ? 0 : a < b ? -1 : 1;
  return compareSemver(x, y);
}

/** `--server` with its certificate, or the embedded server in this process for this run only. */
async function fleetServer(
  workspace: Workspace,
  values: Values,
  context: Context,
): Promise<{ server: string; certificate: string; stop: () => Promise<void> }> {
  const given = optionalString(values, 'server');
  if (given === undefined) {
    const tls = await ensureServerCertificate(workspace);
    const running = await startService({
      workspace,
      key: tls.key,
      cert: tls.cert,
      port: 0,
      env: context.env,
      console: false,
    });
    return { server: `${running.url}/`, certificate: tls.cert, stop: () => running.close() };
  }
  const file = optionalString(values, 'certificate');
  const certificate =
    file === undefined
      ? (await loadServerCertificate(workspace)).cert
      : Buffer.from(await readInput(context, file, PEM_MAX)).toString('utf8');
  return { server: given, certificate, stop: async () => {} };
}

async function run(values: Values, context: Context, count: number): Promise<FleetRun> {
  const workspace = await openWorkspace(values, context);
  const dir = fleetDir(values, context, workspace);
  if (!(await exists(fleetDescriptionPath(dir)))) {
    throw new SihlError(
      'FILE_NOT_FOUND',
      'no simulated fleet here; run `sihl sim fleet --devices N --provision-only` before publishing',
      { subject: dir },
    );
  }
  const pool = new SectorPool();
  const fleet = await loadFleet(dir, pool, count);
  if (fleet.members.length < count)
    throw new SihlError('USAGE', `only ${fleet.members.length} simulated devices are provisioned`);
  const channel = optionalString(values, 'channel') ?? DEFAULT_CHANNEL;
  const { targets } = await readPublished(workspace.storeDir);
  const newest = newestPublished(targets, fleet.model, channel, newer);
  if (!newest || newer(newest.version, fleet.version) <= 0) {
    throw new SihlError(
      'USAGE',
      `nothing newer than ${fleet.version} is published for ${fleet.model} on channel ${channel}`,
    );
  }
  const trustedRoot = new Uint8Array(
    await readInput(context, join(workspace.storeDir, 'metadata', '1.root.json'), ROOT_MAX),
  );
  const given = optionalString(values, 'server');
  const { server, certificate, stop } = await fleetServer(workspace, values, context);
  // The agents' files: in memory-backed storage where there is some, as a device's own flash would be.
  const storage = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sihl-fleet-'));
  const cpu = process.cpuUsage();
  // Ctrl-C ends the run early (what is done is reported) and still removes the agents' files.
  const interrupt = new AbortController();
  const abort = () => interrupt.abort();
  process.once('SIGINT', abort);
  try {
    const result = await simulateFleet(
      {
        model: fleet.model,
        layout: fleet.layout,
        members: fleet.members,
        pool,
        server: server,
        certificate,
        trustedRoot,
        target: newest.version,
        storage,
        channel,
        interval: integer(values, 'interval', 10, 1, 86_400),
        concurrency: integer(values, 'concurrency', 32, 1, 4096),
        powerCutRate: rate(values, 'power-cut-rate'),
        failureRate: rate(values, 'failure-rate'),
        deadlineMs: integer(values, 'deadline', 600, 1, 7 * 86_400) * 1000,
        seed: integer(values, 'seed', 1),
        signal: interrupt.signal,
        // Devices come from addresses of their own, as in a real fleet, when the server is on loopback.
        loopbackAddresses: process.platform === 'linux' && new URL(server).hostname.startsWith('127.'),
      },
      (p) => context.progress?.('updated', p.updated, p.total, 'devices'),
    );
    const used = process.cpuUsage(cpu);
    return {
      phase: 'ran',
      server: server,
      embedded: given === undefined,
      model: fleet.model,
      from: fleet.version,
      target: newest.version,
      cpuMs: Math.round((used.user + used.system) / 1000),
      peakRssKiB: process.resourceUsage().maxRSS,
      ...result,
    };
  } finally {
    process.off('SIGINT', abort);
    await stop();
    await rm(storage, { recursive: true, force: true });
  }
}

const seconds = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

export const simFleet: Command<ProvisionedFleet | FleetRun> = {
  path: ['sim', 'fleet'],
  summary: 'Simulate a fleet in one process: provision N devices, or run them until all are updated.',
  usage:
    'sim fleet --devices N --provision-only --model M --firmware FILE --version V [--owner O] [--workspace DIR]\n' +
    '       sihl sim fleet --devices N [--server URL] [--certificate CERT.pem] [--failure-rate PERCENT] [--power-cut-rate PERCENT] [--interval S] [--concurrency K] [--deadline S] [--workspace DIR] [--json]',
  details: prose`
    Two phases, because a release seals a key envelope for each device registered when it is published:
      sihl init acme && sihl keys add --role targets --name alice … (and bob)
      sihl sim fleet --devices 1000 --provision-only --model movehub --firmware old.bin --version 7.27.0
      sihl release create new.bin … && sihl release approve … && sihl release publish … --rollout 100
      sihl serve &    # prints its URL
      sihl sim fleet --devices 1000 --server https://127.0.0.1:8443/
    --provision-only makes the devices (keys made in each one's secure element), registers them in one
    transaction and saves them in WORKSPACE/sim-fleet (or --fleet). A run loads the first N, points their
    agents at --server (pinning --certificate, by default the workspace's tls/server.crt; without --server
    the embedded server runs in this process for the run) and lets each poll every --interval seconds
    (first poll at random within one interval), at most --concurrency awake at once, until every device
    runs the newest release published for its model and the server has accepted its reports (one turned
    away waits for the device's next poll), or --deadline seconds pass. --power-cut-rate: that
    percentage of devices lose power during their install (at a random flash operation) and boot again.
    --failure-rate: that percentage report an error (SELF_TEST_FAILED) after installing, as a failed health
    check would. Prints the time until 50, 90 and 100 % ran the new release, the requests the server
    answered, and CPU time (of server and simulator together when the server is embedded). Devices are not
    saved after a run: each run starts from the provisioned state. Exit code 1 when any device did not
    reach the release by the deadline (the report is printed all the same).
  `,
  options: {
    ...optionLines(`
      --devices N               how many devices
      --provision-only          make and register the devices, run nothing
      --model M                 device model (provisioning)
      --firmware FILE           factory firmware (provisioning)
      --version V               version of that firmware (provisioning)
      --owner O                 owner recorded in the registry (provisioning)
      --fleet DIR               where the fleet is kept (default WORKSPACE/sim-fleet)
      --server URL              https URL of the store (default: embedded, in process)
      --certificate FILE        the server's certificate (PEM) devices pin
      --channel C               release channel the devices are registered on and follow (default stable)
      --interval S              seconds between polls (default 10)
      --concurrency K           devices awake at once (default 32)
      --failure-rate PERCENT    percentage of devices failing after install (0 to 100)
      --power-cut-rate PERCENT  percentage of installs cut by a power failure (0 to 100)
      --deadline S              give up after this many seconds (default 600)
      --seed N                  seed for schedules and injected faults (default 1)
    `),
    ...workspaceOption,
  },
  async run(values, _positionals, context) {
    if (values.devices === undefined) throw new SihlError('USAGE', '--devices is required');
    const count = integer(values, 'devices', 0, 1, DEVICES_MAX);
    return values['provision-only'] === true
      ? provision(values, context, count)
      : run(values, context, count);
  },
  exitCode: (r) => (r.phase === 'ran' && r.notUpdated > 0 ? 1 : 0),
  render(r) {
    if (r.phase === 'provisioned') {
      return (
        `provisioned ${r.devices} simulated ${r.model} devices running ${r.version} ` +
        `(registry idx ${r.firstIdx}–${r.lastIdx}) in ${(r.ms / 1000).toFixed(1)} s\nsaved in ${r.fleet}`
      );
    }
    const lines = [
      `${r.updated} of ${r.total} devices run ${r.target} (from ${r.from}) after ${seconds(r.wallMs)}` +
        `${r.failed > 0 ? `; ${r.failed} reported a failure after installing` : ''}` +
        `${r.notUpdated > 0 ? `; ${r.notUpdated} not updated by the deadline` : ''}`,
      `time to 50 % ${seconds(r.timeTo.p50)}, 90 % ${seconds(r.timeTo.p90)}, 100 % ${seconds(r.timeTo.p100)}`,
      `server ${r.server}${r.embedded ? ' (embedded, in this process)' : ''}: ${r.requests} requests, ` +
        `${(r.bytes / 1048576).toFixed(1)} MiB received by devices, ${r.polls} polls`,
      `power cuts during install: ${r.powerCuts}; status reports not yet accepted by the server: ${r.undelivered}`,
      `CPU time ${(r.cpuMs / 1000).toFixed(1)} s, peak RSS ${(r.peakRssKiB / 1024).toFixed(0)} MiB ` +
        `(${r.embedded ? 'server and simulator' : 'simulator'})`,
    ];
    const late = r.devices.filter((d) => d.outcome === 'not-updated').slice(0, 10);
    for (const d of late)
      lines.push(
        `  not updated: ${d.id.slice(0, 16)}… running ${d.running}, last error ${d.lastError ?? '-'}`,
      );
    return lines.join('\n');
  },
};
