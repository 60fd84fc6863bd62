// The server's port to the registry: it only needs to find a device by id, to check a report's
// signature against the registered key and refuse revoked devices (docs/SERVER.md §Reports), and the
// channel a target is published on, to refuse a device's report about another channel's release.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readPublished, targetEntries } from '../publisher/published.ts';
import { TIMESTAMP_PATH } from '../publisher/tuf/publish.ts';

export interface RegisteredDevice {
  /** Hex SHA-256 of the device's Ed25519 public key. */
  readonly id: string;
  /** The registered Ed25519 public key its reports must verify under. */
  readonly sign: Uint8Array;
  /** The model it is registered as: its reports must name it, and only its targets. */
  readonly model: string;
  /** The release channel it is registered on: its reports may name only that channel's targets. */
  readonly channel?: string;
  /** When it was revoked (epoch ms), or null. */
  readonly revokedAt: number | null;
}

export interface DeviceLookup {
  get(id: string): RegisteredDevice | undefined;
  /** The channel `target` is published on, or undefined when the store does not list it (not checked). */
  releaseChannel?(target: string): Promise<string | undefined>;
}

/**
 * The registry, with the channels of what the store at `storeDir` publishes: read again whenever its
 * timestamp.json changed (every publication, halt or refresh writes a new one), else from memory.
 */
export function withReleaseChannels(
  registry: Pick<DeviceLookup, 'get'>,
  storeDir: string,
): Required<DeviceLookup> {
  let seen = '';
  let channels: Promise<Map<string, string>> = Promise.resolve(new Map());
  const load = async () => {
    const { targets } = await readPublished(storeDir);
    const map = new Map<string, string>();
    for (const entry of targetEntries(targets)) {
      const channel = entry.custom?.channel;
      if (typeof channel === 'string') map.set(entry.name, channel);
    }
    return map;
  };
  return {
    get: (id) => registry.get(id),
    async releaseChannel(target) {
      const info = await stat(join(storeDir, TIMESTAMP_PATH)).catch(() => undefined);
      const version = info ? `${info.ino}:${info.size}:${info.mtimeMs}` : '';
      if (version !== seen) {
        seen = version;
        channels = load().catch(() => {
          seen = ''; // read again at the next report
          return new Map();
        });
      }
      return (await channels).get(target);
    },
  };
}
