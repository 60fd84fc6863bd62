// The vendor-checks rule of the gate: commands the workspace names (a static analyser's report check,
// an SBOM or licence scan…) run on the release's firmware, each with the release's facts in its
// environment. A check passes on exit code 0; its output is kept in the release folder
// (checks/NAME.log); a check that outlives its timeout is killed with every process it started.
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/fs.ts';
import { CHECK_TIMEOUT_DEFAULT_S, type VendorCheckConfig } from './gate-config.ts';

/** What a check is told about the release, as SIHL_* environment variables. */
export interface CheckFacts {
  /** The unpacked firmware (plaintext), readable for the duration of the checks. */
  readonly firmware: string;
  readonly image: string;
  readonly releaseDir: string;
  readonly model: string;
  readonly version: string;
  readonly securityVersion: number;
  readonly channel: string;
  readonly releaseId: string;
}

export interface CheckOutcome {
  readonly name: string;
  readonly ok: boolean;
  /** `exit code N`, `killed by SIGNAL`, `timed out after S s` or `could not start: …`. */
  readonly status: string;
  readonly ms: number;
  /** The output file, relative to the release folder. */
  readonly log: string;
  /** The last lines of output, for the gate's message. */
  readonly tail: string;
}

/** Output kept per check; the rest is counted, not stored. */
const OUTPUT_MAX = 1024 * 1024;
const TAIL_CHARS = 400;
/** Only what a program needs to run is passed on: never the workspace's passphrase or cloud secrets. */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ'];

export async function runVendorChecks(
  checks: readonly VendorCheckConfig[],
  facts: CheckFacts,
  cwd: string,
): Promise<CheckOutcome[]> {
  const folder = join(facts.releaseDir, 'checks');
  await mkdir(folder, { recursive: true });
  const outcomes: CheckOutcome[] = [];
  for (const check of checks) outcomes.push(await runOne(check, facts, cwd, folder));
  return outcomes;
}

function checkEnv(facts: CheckFacts): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  return {
    ...env,
    SIHL_FIRMWARE: facts.firmware,
    SIHL_IMAGE: facts.image,
    SIHL_RELEASE_DIR: facts.releaseDir,
    SIHL_MODEL: facts.model,
    SIHL_VERSION: facts.version,
    SIHL_SECURITY_VERSION: String(facts.securityVersion),
    SIHL_CHANNEL: facts.channel,
    SIHL_RELEASE_ID: facts.releaseId,
  };
}

async function runOne(
  check: VendorCheckConfig,
  facts: CheckFacts,
  cwd: string,
  folder: string,
): Promise<CheckOutcome> {
  const timeoutS = check.timeoutSeconds ?? CHECK_TIMEOUT_DEFAULT_S;
  const started = Date.now();
  const output: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  const keep = (chunk: Buffer) => {
    const room = OUTPUT_MAX - kept;
    if (room > 0) output.push(chunk.subarray(0, room));
    kept += Math.min(room, chunk.length);
    dropped += Math.max(0, chunk.length - room);
  };
  const [program, ...args] = check.command as [string, ...string[]];
  // A process group of its own, so a timeout kills whatever the check started too.
  const child = spawn(program, args, {
    cwd,
    env: checkEnv(facts),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutS * 1000);
  const status = await new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not start: ${error.message}`));
    child.once('exit', (code, signal) =>
      resolve(code !== null ? `exit code ${code}` : `killed by ${signal}`),
    );
  });
  clearTimeout(timer);
  // Whatever the check left running in the background is not part of the release.
  killGroup();
  await new Promise((resolve) => {
    if (child.stdout.closed && child.stderr.closed) return resolve(undefined);
    child.once('close', resolve);
    setTimeout(resolve, 2000).unref();
  });
  const shown = timedOut ? `timed out after ${timeoutS} s` : status;
  const text =
    Buffer.concat(output).toString('utf8') + (dropped > 0 ? `\n[${dropped} more bytes not kept]\n` : '');
  const log = join('checks', `${check.name}.log`);
  const header = `# ${check.command.join(' ')}\n# ${shown}, ${Date.now() - started} ms\n`;
  await writeFileAtomic(join(folder, `${check.name}.log`), header + text, { overwrite: true });
  return {
    name: check.name,
    ok: !timedOut && status === 'exit code 0',
    status: shown,
    ms: Date.now() - started,
    log,
    tail: text.trimEnd().slice(-TAIL_CHARS),
  };
}
