// The fleet as its reports show it (`sihl fleet status`): per device the latest report and latest error,
// per published release how many devices run it. Every log entry is verified again against the device
// of its partition, because the log store is not trusted to hold only what the server accepted.
import { join } from 'node:path';
import type { Metadata, Targets } from '@tufjs/models';
import { type StatusReport, verifySignedReport } from '../core/format/report.ts';
import { DEFAULT_CHANNEL } from '../core/format/target.ts';
import { type Env, type LogLocation, openLogStore } from '../storage/locations.ts';
import type { LogStore } from '../storage/log-store.ts';
import { LOG_STORE_FILE } from '../storage/sqlite-log-store.ts';
import { readPublished, targetEntries } from './published.ts';
import { countsInFigures, type Device, openRegistry, REGISTRY_BATCH } from './registry.ts';
import type { Workspace } from './workspace.ts';

export interface DeviceStatus {
  readonly id: string;
  readonly idx: number;
  readonly model: string;
  /** The release channel it is registered on: only releases of that channel count it. */
  readonly channel: string;
  readonly owner: string;
  readonly revoked: boolean;
  /** Firmware version of the latest report, or null before the first one. */
  readonly running: string | null;
  /** When the server received the latest report (ISO 8601). */
  readonly lastReport: string | null;
  readonly lastOutcome: StatusReport['outcome'] | null;
  readonly lastTarget: string | null;
  readonly attempts: number | null;
  /** The latest report that was a refusal or an error. */
  readonly lastError: { readonly reason: string; readonly outcome: string; readonly at: string } | null;
  readonly reports: number;
}

export interface ReleaseStatus {
  readonly target: string;
  readonly model: string;
  readonly version: string;
  readonly channel: string;
  /** Unrevoked devices of that model and channel whose latest report says they run this version. */
  readonly running: number;
}

/** A log entry that is not counted: not signed by the device it is filed under, or of no known device. */
export interface FlaggedEntry {
  readonly deviceId: string;
  readonly received: string;
  readonly problem: string;
}

export interface FleetStatus {
  readonly devices: DeviceStatus[];
  readonly releases: ReleaseStatus[];
  readonly flagged: FlaggedEntry[];
}

export interface FleetSources {
  readonly devices: Iterable<Device>;
  readonly logStore: LogStore;
  readonly targets: Metadata<Targets> | undefined;
}

interface Latest {
  report: StatusReport;
  received: Date;
}

/** Pure over its sources: walks the log once, oldest first. */
export async function fleetStatus(sources: FleetSources): Promise<FleetStatus> {
  const byId = new Map<string, Device>();
  for (const device of sources.devices) byId.set(device.id, device);
  const latest = new Map<string, Latest>();
  const errors = new Map<string, Latest>();
  const counts = new Map<string, number>();
  const flagged: FlaggedEntry[] = [];
  for await (const entry of sources.logStore.query()) {
    const device = byId.get(entry.deviceId);
    const flag = (problem: string) =>
      flagged.push({ deviceId: entry.deviceId, received: entry.received.toISOString(), problem });
    if (!device) {
      flag('no such device in the registry');
      continue;
    }
    let report: StatusReport;
    try {
      report = verifySignedReport(entry.report, device.sign);
    } catch (error) {
      flag(`not signed by this device (${(error as { code?: string }).code ?? 'unreadable'})`);
      continue;
    }
    counts.set(device.id, (counts.get(device.id) ?? 0) + 1);
    const seen = { report, received: entry.received };
    const before = latest.get(device.id);
    if (!before || report.seq > before.report.seq) latest.set(device.id, seen);
    if (report.outcome === 'rejected' || report.outcome === 'reverted' || report.outcome === 'error') {
      const last = errors.get(device.id);
      if (!last || report.seq > last.report.seq) errors.set(device.id, seen);
    }
  }

  const devices = [...byId.values()]
    .sort((a, b) => a.idx - b.idx)
    .map((d): DeviceStatus => {
      const last = latest.get(d.id);
      const error = errors.get(d.id);
      return {
        id: d.id,
        idx: d.idx,
        model: d.model,
        channel: d.channel,
        owner: d.owner,
        revoked: d.revokedAt !== null,
        running: last?.report.running ?? null,
        lastReport: last?.received.toISOString() ?? null,
        lastOutcome: last?.report.outcome ?? null,
        lastTarget: last?.report.target ?? null,
        attempts: last?.report.attempts ?? null,
        lastError: error
          ? {
              reason: error.report.reason ?? 'unknown',
              outcome: error.report.outcome,
              at: error.received.toISOString(),
            }
          : null,
        reports: counts.get(d.id) ?? 0,
      };
    });

  const counted = new Set([...byId.values()].filter(countsInFigures).map((d) => d.id));
  const releases = targetEntries(sources.targets).flatMap((entry): ReleaseStatus[] => {
    const c = entry.custom ?? {};
    if (typeof c.model !== 'string' || typeof c.version !== 'string') return [];
    const channel = typeof c.channel === 'string' ? c.channel : DEFAULT_CHANNEL;
    const ofRelease = (d: DeviceStatus) => d.model === c.model && d.channel === channel;
    return [
      {
        target: entry.name,
        model: c.model,
        version: c.version,
        channel,
        // A revoked device is listed with its reports, but counts in no figure (registry.ts); a device
        // of another channel was never offered the release, whatever it says it runs.
        running: devices.filter((d) => counted.has(d.id) && ofRelease(d) && d.running === c.version).length,
      },
    ];
  });
  return { devices, releases, flagged };
}

/** The embedded log store of a workspace. */
export function logStorePath(workspace: Workspace): string {
  return join(workspace.dir, LOG_STORE_FILE);
}

function* allDevices(workspace: Workspace): Generator<Device> {
  const registry = openRegistry(workspace.registryPath);
  try {
    for (let offset = 0; ; offset += REGISTRY_BATCH) {
      const page = registry.list({ includeRevoked: true, limit: REGISTRY_BATCH, offset });
      yield* page;
      if (page.length < REGISTRY_BATCH) return;
    }
  } finally {
    registry.close();
  }
}

/**
 * The log store that `fleet status`, `rollout check`, the console and its monitor read: `location`, else
 * sihl.json's "log" (an Azure table devices write to), else the embedded logs.db that `sihl serve` fills.
 */
export function openWorkspaceLogStore(
  workspace: Workspace,
  env: Env,
  location: LogLocation | undefined = workspace.logLocation,
): Promise<LogStore> {
  return openLogStore(location ?? { kind: 'local', path: logStorePath(workspace) }, env);
}

/** The fleet status of a workspace: its registry, the log store given and what its store publishes. */
export async function readFleetStatus(workspace: Workspace, logStore: LogStore): Promise<FleetStatus> {
  const { targets } = await readPublished(workspace.storeDir);
  return fleetStatus({ devices: [...allDevices(workspace)], logStore, targets });
}
