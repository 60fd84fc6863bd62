// Memory of a server under load, from /proc: the RSS of its processes (nginx's master and workers
// together) and the KiB per connection above its idle RSS at 10, 30 and 60 s of a run.
import { readFileSync } from 'node:fs';

/**
 * The RSS of the server's processes and, for nginx, their children (its workers), in KiB. Synchronous:
 * /proc answers at once, and a sampler that waited for the thread pool under load would record nothing.
 */
export function treeRssKiB(pids: readonly number[]): number {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const all = [...pids];
  for (const pid of pids)
    all.push(...read(`/proc/${pid}/task/${pid}/children`).trim().split(' ').filter(Boolean).map(Number));
  return all.reduce(
    (kib, pid) => kib + Number(/VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`))?.[1] ?? 0),
    0,
  );
}

/** KiB per connection above `idleKiB` at 10, 30 and 60 s (those inside the run), from the nearest sample. */
export function perConnection(
  samples: readonly { at: number; kib: number }[],
  idleKiB: number,
  connections: number,
  seconds: number,
): Record<string, number> {
  return Object.fromEntries(
    [10, 30, 60]
      .filter((t) => t < seconds)
      .map((t) => {
        const near = samples.reduce<(typeof samples)[number] | undefined>(
          (best, x) => (!best || Math.abs(x.at - t * 1000) < Math.abs(best.at - t * 1000) ? x : best),
          undefined,
        );
        return [`${t}s`, Math.round((((near?.kib ?? Number.NaN) - idleKiB) / connections) * 10) / 10];
      }),
  );
}
