// Load from wrk (Debian's package) and what it cost: the requests a server answered, the CPU time the
// server's processes used meanwhile (from /proc, so every nginx worker and sihl behind it count) and the
// CPU time of wrk itself, so a load generator that saturates before the server is seen as such.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

export const WRK = '/usr/bin/wrk';
/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly requests: number;
  /** Socket errors, timeouts and responses outside 2xx and 3xx. */
  readonly unexpected: number;
  readonly p99Ms: number;
  /** CPU seconds the measured server's processes used during the run. */
  readonly serverCpuS: number;
  /** Requests per CPU-second of the server. */
  readonly perCpuSecond: number;
  /** CPU seconds wrk used, and the run's wall time. */
  readonly wrkCpuS: number;
  readonly seconds: number;
  /** The machine's one-minute load average as the run began (other work shares the cores). */
  readonly loadAverage: number;
}

/** utime + stime of one process, in seconds; 0 when it is gone. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** A process and its children (nginx's master and workers), by /proc's children lists. */
function treeOf(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    const p = all[i] as number;
    try {
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (kids) all.push(...kids.split(' ').map(Number));
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

export const cpuOfTrees = (pids: readonly number[]) =>
  pids.flatMap(treeOf).reduce((sum, pid) => sum + cpuOf(pid), 0);

function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us'] ?? 1);
}

/**
 * Runs wrk for `seconds` against `url` with `connections` keep-alive connections on one thread, while
 * `serverPids` (and their children) are the server. wrk runs under a shell that prints its own
 * children's CPU time (cutime + cstime) once wrk has exited.
 */
export async function runWrk(
  url: string,
  options: { connections: number; seconds: number; headers?: Record<string, string>; serverPids: number[] },
): Promise<WrkResult> {
  const headers = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', ...headers, url];
  const loadAverage = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const before = cpuOfTrees(options.serverPids);
  const started = Date.now();
  const child = spawn('sh', ['-c', `${WRK} "$@" && cat /proc/$$/stat`, 'sh', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    err += c;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const seconds = (Date.now() - started) / 1000;
  const serverCpuS = cpuOfTrees(options.serverPids) - before;
  if (code !== 0) throw new Error(`wrk failed (${code}): ${err}${out}`);
  const shellStat = out.trim().split('\n').at(-1) ?? '';
  const fields = shellStat.slice(shellStat.lastIndexOf(')') + 2).split(' ');
  const wrkCpuS = (Number(fields[13]) + Number(fields[14])) / TICKS;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0;
  const good = requests - bad;
  return {
    requestsPerSecond: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN)),
    requests: good,
    unexpected: bad + socketErrors,
    p99Ms: parseDuration(/ 99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    serverCpuS,
    perCpuSecond: serverCpuS > 0 ? Math.round(good / serverCpuS) : Number.NaN,
    wrkCpuS,
    seconds,
    loadAverage,
  };
}
