// The poll load of `npm run load` and test/load/load.test.ts: N keep-alive connections from autocannon
// in this process poll timestamp.json with its current ETag while the server's memory is sampled.
import autocannon from 'autocannon';
import { PATH, poll, type Served } from './load.ts';
import { perConnection, treeRssKiB } from './memory.ts';

export interface LoadResult {
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  /** Non-304 answers, connection errors and timeouts. */
  readonly failed: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non304: number;
  readonly p99Ms: number;
  /** The server's RSS (MiB) once all connections were open, at the end, and the highest seen. */
  readonly rssStartMiB: number;
  /** When every connection had had an answer (null: never, in the run), and the RSS then. */
  readonly allUpSeconds: number | null;
  readonly rssAllUpMiB: number | null;
  /** RSS half-way through: by then every connection is up, so from here on memory should stay flat. */
  readonly rssHalfMiB: number;
  readonly rssEndMiB: number;
  readonly rssPeakMiB: number;
  /** RSS before the load, and KiB per connection above it at 10 s, 30 s and 60 s (those the run reached). */
  readonly rssIdleMiB: number;
  readonly kibPerConnection: Readonly<Record<string, number>>;
}

/**
 * `connections` keep-alive connections poll with If-None-Match for `seconds` seconds. The server's RSS
 * is sampled every 500 ms; the "start" figure is taken 2 s into the run, once the connections are open.
 */
export async function pollLoad(served: Served, connections: number, seconds: number): Promise<LoadResult> {
  const etag = await poll(served.url, served.ca);
  const pids = served.pids ?? (() => [served.child.pid as number]);
  const idle = treeRssKiB(pids());
  const samples: { at: number; kib: number }[] = [];
  const started = Date.now();
  const sampler = setInterval(() => {
    samples.push({ at: Date.now() - started, kib: treeRssKiB(pids()) });
  }, 500);
  let result: autocannon.Result;
  // The moment every connection has had its first answer: from then on memory must stay flat.
  const answered = new Set<unknown>();
  let allUp: { at: number; kib: number } | undefined;
  try {
    result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: `${served.url}${PATH}`,
          connections,
          duration: seconds,
          headers: { 'if-none-match': etag },
          tlsOptions: { ca: served.ca },
          timeout: 30,
        },
        (error, done) => (error ? reject(error) : resolve(done)),
      );
      instance.on('response', (client: unknown) => {
        if (allUp || answered.has(client)) return;
        answered.add(client);
        if (answered.size === connections) allUp = { at: Date.now() - started, kib: treeRssKiB(pids()) };
      });
    });
  } finally {
    clearInterval(sampler);
  }
  const stats: Record<string, { count?: number }> = result.statusCodeStats ?? {};
  const ok = stats['304']?.count ?? 0;
  const all = Object.values(stats).reduce((n, s) => n + (s.count ?? 0), 0);
  const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
  const steady = samples.filter((s) => s.at >= 2000);
  return {
    connections,
    seconds,
    requests: ok,
    requestsPerSecond: Math.round(ok / seconds),
    failed: all - ok + result.errors + result.timeouts,
    errors: result.errors,
    timeouts: result.timeouts,
    non304: all - ok,
    p99Ms: result.latency.p99,
    rssStartMiB: mib((steady[0] ?? samples[0])?.kib ?? 0),
    allUpSeconds: allUp ? Math.round(allUp.at / 100) / 10 : null,
    rssAllUpMiB: allUp ? mib(allUp.kib) : null,
    rssHalfMiB: mib((samples.find((s) => s.at >= (seconds * 1000) / 2) ?? samples.at(-1))?.kib ?? 0),
    rssEndMiB: mib(samples.at(-1)?.kib ?? 0),
    rssPeakMiB: mib(Math.max(0, ...samples.map((s) => s.kib))),
    rssIdleMiB: mib(idle),
    kibPerConnection: perConnection(samples, idle, connections, seconds),
  };
}
