// How a device finds its server and what it trusts, written once at provisioning: agent.json in the
// device's folder (server URL, the pinned server certificate, the device's index in the registry, its
// channel and poll interval) and the first trusted TUF root, from which tuf-js walks to the newest.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { naming, SihlError } from '../../core/errors.ts';
import { NAME_PATTERN } from '../../core/format/target.ts';
import { exists, readSmallFile, writeFileAtomic } from '../../core/fs.ts';
import { AGENT_LIMITS } from './limits.ts';

export interface AgentConfig {
  /** Base URL of the store, https. */
  readonly server: string;
  /** The server's certificate (PEM): the only one the agent trusts. */
  readonly certificate: string;
  /** The device's slot in the release envelope tables, given at provisioning. */
  readonly index: number;
  readonly channel: string;
  /** Seconds between polls. */
  readonly interval: number;
  /**
   * Reports go to this Azure table with the device's own SAS (docs/CLOUD.md) instead of the server's
   * /v1/reports. The table URL is https and is trusted through `certificate` too.
   */
  readonly log?: { readonly table: string; readonly sas: string };
}

/** Where the agent keeps its files inside the device folder. */
export function agentPaths(dir: string) {
  return {
    config: join(dir, 'agent.json'),
    /** tuf-js's metadataDir: root.json, timestamp.json, snapshot.json, targets.json. */
    metadata: join(dir, 'agent', 'tuf'),
    /** The last root tuf-js trusted, copied atomically (tuf-js writes its files in place). */
    rootCopy: join(dir, 'agent', 'trusted-root.json'),
    state: join(dir, 'agent', 'state.json'),
  };
}

const CHANNEL = NAME_PATTERN;
const CONFIG_MAX_BYTES = 64 * 1024;

function invalid(path: string, message: string): never {
  throw new SihlError('USAGE', `agent configuration: ${message}`, { subject: path });
}

export function checkAgentConfig(config: AgentConfig, path = 'agent.json'): AgentConfig {
  let url: URL | undefined;
  try {
    url = new URL(config.server);
  } catch {}
  if (url?.protocol !== 'https:') invalid(path, `server must be an https URL, not "${config.server}"`);
  if (typeof config.certificate !== 'string' || !config.certificate.includes('BEGIN CERTIFICATE'))
    invalid(path, 'certificate must be the PEM certificate of the server');
  if (!Number.isSafeInteger(config.index) || config.index < 0)
    invalid(path, 'index must be the registry index, a whole number from 0');
  if (typeof config.channel !== 'string' || !CHANNEL.test(config.channel))
    invalid(path, `channel "${config.channel}" is not a channel name`);
  if (typeof config.interval !== 'number' || !(config.interval > 0) || config.interval > 30 * 86_400)
    invalid(path, 'interval must be a number of seconds, above 0 and at most 30 days');
  if (config.log !== undefined) {
    let table: URL | undefined;
    try {
      table = new URL(config.log.table);
    } catch {}
    if (
      table?.protocol !== 'https:' ||
      table.search !== '' ||
      !/\/[A-Za-z][A-Za-z0-9]{2,62}\/?$/.test(table.pathname)
    )
      invalid(path, 'log.table must be the https URL of a table, without a query');
    if (typeof config.log.sas !== 'string' || !/^[A-Za-z0-9%&=._~:+/-]+$/.test(config.log.sas))
      invalid(path, 'log.sas must be a SAS query string');
  }
  return {
    server: config.server,
    certificate: config.certificate,
    index: config.index,
    channel: config.channel,
    interval: config.interval,
    ...(config.log ? { log: { table: config.log.table, sas: config.log.sas } } : {}),
  };
}

/** A TUF root metadata file, as far as can be told without verifying it (tuf-js does that). */
function checkRootFile(bytes: Uint8Array): void {
  let parsed: { signed?: { _type?: unknown; version?: unknown } };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new SihlError('TUF_METADATA_MALFORMED', 'the trusted root is not JSON');
  }
  if (parsed?.signed?._type !== 'root' || !Number.isSafeInteger(parsed.signed.version)) {
    throw new SihlError('TUF_METADATA_MALFORMED', 'the trusted root is not TUF root metadata');
  }
}

/**
 * Provisioning: writes agent.json and the first trusted root (the store's metadata/1.root.json). An
 * existing root is kept unless `replaceRoot`: the device may have moved on to newer roots since.
 */
export async function writeAgentConfig(
  dir: string,
  config: AgentConfig,
  trustedRoot: Uint8Array,
  options: { readonly replaceRoot?: boolean } = {},
): Promise<void> {
  const paths = agentPaths(dir);
  checkAgentConfig(config, paths.config);
  checkRootFile(trustedRoot);
  await mkdir(paths.metadata, { recursive: true });
  const root = join(paths.metadata, 'root.json');
  if (options.replaceRoot || !(await exists(root))) {
    await writeFileAtomic(root, trustedRoot, { overwrite: true });
    await writeFileAtomic(paths.rootCopy, trustedRoot, { overwrite: true });
  }
  await writeFileAtomic(paths.config, `${JSON.stringify(checkAgentConfig(config), null, 2)}\n`, {
    overwrite: true,
  });
}

export async function readAgentConfig(dir: string): Promise<AgentConfig> {
  const path = agentPaths(dir).config;
  const text = Buffer.from(await readSmallFile(path, CONFIG_MAX_BYTES)).toString('utf8');
  let parsed: AgentConfig;
  try {
    parsed = JSON.parse(text);
  } catch {
    invalid(path, 'not JSON');
  }
  return checkAgentConfig(parsed, path);
}

/**
 * tuf-js persists metadata with a plain writeFileSync, so a power cut can leave root.json torn, and a
 * device without a readable root can never update again. The agent keeps its own atomic copy of the
 * last root tuf-js accepted and puts it back when root.json does not parse. (A torn timestamp, snapshot
 * or targets file is harmless: tuf-js refetches what does not verify.)
 */
export async function repairTrustedRoot(dir: string): Promise<void> {
  const paths = agentPaths(dir);
  const root = join(paths.metadata, 'root.json');
  try {
    checkRootFile(await readSmallFile(root, AGENT_LIMITS.metadataBytes));
    return;
  } catch (error) {
    if (
      !(error instanceof SihlError) ||
      (error.code !== 'TUF_METADATA_MALFORMED' && error.code !== 'FILE_NOT_FOUND')
    )
      throw error;
  }
  let copy: Uint8Array;
  try {
    copy = new Uint8Array(await readFile(paths.rootCopy));
  } catch (error) {
    throw naming(paths.rootCopy, error);
  }
  checkRootFile(copy);
  await writeFileAtomic(root, copy, { overwrite: true });
}

/** After a refresh: the root tuf-js now trusts becomes the copy (only if it parses). */
export async function keepTrustedRoot(dir: string): Promise<void> {
  const paths = agentPaths(dir);
  const bytes = await readSmallFile(join(paths.metadata, 'root.json'), AGENT_LIMITS.metadataBytes);
  checkRootFile(bytes);
  await writeFileAtomic(paths.rootCopy, bytes, { overwrite: true });
}
