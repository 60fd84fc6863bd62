// What `sihl serve`, `sihl sim fleet`, `npm start` and the tests run, composed in one place: the HTTPS
// server over the workspace's staging copy, the workspace's log store (sihl.json "log", else logs.db),
// and the console with its rollout monitor, whose halts and advances mirror to the configured store.

import { pick } from '../core/pick.ts';
import { openWorkspaceLogStore } from '../publisher/fleet.ts';
import { openRegistry } from '../publisher/registry.ts';
import type { Passphrases } from '../publisher/role-keys.ts';
import type { Clock } from '../publisher/tuf/expiry.ts';
import type { Workspace } from '../publisher/workspace.ts';
import type { Env } from '../storage/locations.ts';
import type { LogStore } from '../storage/log-store.ts';
import { type Console, openConsole } from './console/console.ts';
import { withReleaseChannels } from './device-lookup.ts';
import { type RequestLog, type RunningServer, type ServerLimits, startServer } from './server.ts';
import {
  startTimestampKeeper,
  type TimestampKeeper,
  type TimestampKeeperOptions,
} from './timestamp-keeper.ts';

export interface ServiceOptions {
  readonly workspace: Workspace;
  /** PEM private key and certificate devices pin. */
  readonly key: string;
  readonly cert: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly limits?: Partial<ServerLimits>;
  /** Cloud credentials, for a log table and for mirroring to a cloud store. */
  readonly env: Env;
  /** Without passphrases the console and its monitor only watch: they cannot sign a halt. */
  readonly passphrases?: Passphrases;
  /** Without a console: the store and report intake only (a bare server, e.g. for one simulated run). */
  readonly console?: false;
  readonly now?: Clock;
  readonly checkDelayMs?: number;
  readonly checkEveryMs?: number;
  readonly onEvent?: (event: { release: string; action: string; why: string }) => void;
  readonly onRequest?: (entry: RequestLog) => void;
  readonly onError?: (error: unknown, request: string) => void;
  /** The server refreshes the timestamp itself before it expires, with these online keys' passphrases. */
  readonly timestamp?: Omit<TimestampKeeperOptions, 'workspace' | 'env' | 'now' | 'queue'>;
}

export interface Service {
  readonly url: string;
  readonly port: number;
  readonly server: RunningServer;
  readonly console: Console | undefined;
  /** The log store reports go to (and the console reads). */
  readonly logStore: LogStore;
  close(): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<Service> {
  const { workspace, env } = options;
  const logStore = await openWorkspaceLogStore(workspace, env);
  const registry = openRegistry(workspace.registryPath);
  let web: Console | undefined;
  let keeper: TimestampKeeper | undefined;
  try {
    if (options.console !== false) {
      web = await openConsole({
        workspace,
        logStore,
        deviceLogs: logStore,
        store: { env, cwd: workspace.dir },
        ...pick(options, ['passphrases', 'now', 'checkDelayMs', 'checkEveryMs', 'onEvent']),
      });
    }
    if (options.timestamp) {
      const monitor = web?.monitor;
      keeper = await startTimestampKeeper({
        workspace,
        env,
        ...options.timestamp,
        ...pick(options, ['now']),
        ...(monitor ? { queue: (work) => monitor.run(work) } : {}),
      });
    }
    const server = await startServer({
      storeDir: workspace.storeDir,
      devices: withReleaseChannels(registry, workspace.storeDir),
      logStore: web?.logStore ?? logStore,
      ...(web ? { console: web } : {}),
      key: options.key,
      cert: options.cert,
      ...pick(options, ['host', 'port', 'limits', 'onRequest', 'onError']),
    });
    let closing: Promise<void> | undefined;
    return {
      url: server.url,
      port: server.port,
      server,
      console: web,
      logStore: web?.logStore ?? logStore,
      close() {
        closing ??= server
          .close()
          .then(() => keeper?.close())
          .then(() => web?.close())
          .finally(() => {
            registry.close();
            return logStore.close();
          });
        return closing;
      },
    };
  } catch (error) {
    await keeper?.close();
    await web?.close();
    registry.close();
    await logStore.close();
    throw error;
  }
}
