// What the agent remembers across reboots, in one small file replaced atomically: the timestamp's ETag,
// the download in progress (so it resumes where it stopped), the update it marked pending, targets whose
// trial was reverted, targets it refused (refusals.ts), a target that arrived corrupt (downloaded again
// after a backoff), and its status reports (sequence number, and those not yet delivered).
import { SihlError } from '../../core/errors.ts';
import { readSmallFile, writeFileAtomic } from '../../core/fs.ts';
import { agentPaths } from './config.ts';
import { AGENT_LIMITS } from './limits.ts';
import type { RefusedTarget } from './refusals.ts';

export interface DownloadProgress {
  readonly target: string;
  readonly version: string;
  /** Hex SHA-256 and length from the verified TUF target info. */
  readonly sha256: string;
  readonly length: number;
  /** Image bytes in the staging slot (a sector boundary, or the whole image). */
  readonly written: number;
  /** The device's key envelope in hex ('' for an unencrypted image); staged right after the image. */
  readonly envelope: string;
}

export interface StagedUpdate {
  readonly target: string;
  readonly version: string;
  readonly sha256: string;
}

export interface AgentState {
  /** ETag of the last timestamp.json tuf-js accepted. */
  readonly etag?: string;
  readonly download?: DownloadProgress;
  readonly staged?: StagedUpdate;
  /** SHA-256 of targets whose trial was reverted: they failed on this device. */
  readonly refused: readonly string[];
  /** Targets whose verified bytes this agent refused, by identity: not downloaded again while unchanged. */
  readonly refusals?: readonly RefusedTarget[];
  /**
   * The target last refused by the bootloader although this agent had verified it (staging corrupt), or
   * whose bytes did not match the signed target or whose envelope did not fit it (the serving path).
   */
  readonly corrupt?: {
    readonly sha256: string;
    /** Corrupt downloads of it in a row: the backoff grows with them. */
    readonly count: number;
    /** Milliseconds since the epoch before which it is not downloaded again. */
    readonly retryAt: number;
  };
  /** Sequence number of the last status report made. */
  readonly seq: number;
  /** Signed reports (base64) the server has not accepted yet, oldest first. */
  readonly outbox: readonly string[];
  /** Code of the last error reported, so a lasting failure is reported once, not at every poll. */
  readonly lastError?: string;
  /** The target last installed: a revert or an application error while it runs is reported against it. */
  readonly installed?: string;
  /** The newest log table SAS a release brought (docs/CLOUD.md), replacing the one of agent.json. */
  readonly logSas?: string;
}

const STATE_MAX_BYTES = 256 * 1024;
const EMPTY: AgentState = { refused: [], seq: 0, outbox: [] };

export async function readAgentState(dir: string): Promise<AgentState> {
  const path = agentPaths(dir).state;
  let bytes: Uint8Array;
  try {
    bytes = await readSmallFile(path, STATE_MAX_BYTES);
  } catch (error) {
    if (error instanceof SihlError && error.code === 'FILE_NOT_FOUND') return EMPTY;
    throw error;
  }
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as AgentState;
    if (!Array.isArray(parsed.refused) || !Array.isArray(parsed.outbox) || !Number.isSafeInteger(parsed.seq))
      throw new Error('incomplete');
    if (parsed.refusals !== undefined && !Array.isArray(parsed.refusals)) throw new Error('incomplete');
    return parsed;
  } catch {
    // Written atomically, so this is damage from outside; start over, but never reuse a report number.
    return { ...EMPTY, seq: Date.now() };
  }
}

function bounded(state: AgentState): AgentState {
  return {
    ...state,
    refused: state.refused.slice(-AGENT_LIMITS.refusedTargets),
    ...(state.refusals ? { refusals: state.refusals.slice(-AGENT_LIMITS.refusedTargets) } : {}),
    outbox: state.outbox.slice(-AGENT_LIMITS.outboxReports),
  };
}

export async function writeAgentState(dir: string, state: AgentState): Promise<void> {
  await writeFileAtomic(agentPaths(dir).state, `${JSON.stringify(bounded(state))}\n`, { overwrite: true });
}

/**
 * Where the agent keeps its state. By default agent/state.json in the device folder; a simulator that
 * runs thousands of devices in one process keeps it in memory instead (memoryStateStore).
 */
export interface AgentStateStore {
  read(): Promise<AgentState>;
  write(state: AgentState): Promise<void>;
}

/** State kept in memory, surviving the agent objects of one device as long as the store lives. */
export function memoryStateStore(initial: AgentState = EMPTY): AgentStateStore {
  let kept: AgentState = initial;
  return {
    read: async () => kept,
    write: async (state) => {
      kept = bounded(state);
    },
  };
}
