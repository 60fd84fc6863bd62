// Memory per connection the way a fleet holds connections: `connections` TLS keep-alive connections
// opened 200 at a time (devices coming online), each polling timestamp.json with its ETag every 1 to 2 s
// (inside sihl serve's 5 s keep-alive), for `seconds` once all are up, while the server's RSS is sampled.
// Unlike autocannon's all-at-once start, this holds on a machine whose cores are shared: a handshake
// that waits behind 10,000 others times out, a device that comes online a little later does not.
import { connect, type TLSSocket } from 'node:tls';
import { PATH, poll, type Served } from './load.ts';
import { perConnection, treeRssKiB } from './memory.ts';

export interface HeldResult {
  readonly connections: number;
  readonly seconds: number;
  /** Seconds it took to open every connection. */
  readonly openSeconds: number;
  readonly polls: number;
  /** Answers other than 304, and connections that failed or closed. */
  readonly failed: number;
  /** Of those, connections closed before their first answer (handshake or first request). */
  readonly closedBeforeAnswer: number;
  readonly rssIdleMiB: number;
  readonly rssAllUpMiB: number;
  readonly rssEndMiB: number;
  /** KiB per connection above the idle RSS at 10, 30 and 60 s after the last connection opened. */
  readonly kibPerConnection: Readonly<Record<string, number>>;
}

const BATCH = 200;

export async function heldConnections(
  served: Served,
  connections: number,
  seconds: number,
): Promise<HeldResult> {
  const etag = await poll(served.url, served.ca);
  const pids = served.pids ?? (() => [served.child.pid as number]);
  const idle = treeRssKiB(pids());
  const request = `GET ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: ${etag}\r\n\r\n`;
  const sockets: TLSSocket[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let polls = 0;
  let failed = 0;
  let closedBeforeAnswer = 0;
  let stopping = false;
  const open = () =>
    new Promise<void>((resolve) => {
      let pending = '';
      let first = true;
      const socket = connect({ host: '127.0.0.1', port: served.port, ca: served.ca }, () =>
        socket.write(request),
      );
      const again = () => {
        if (stopping) return;
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            if (!socket.destroyed) socket.write(request);
          },
          1_000 + Math.random() * 1_000,
        );
        timers.add(timer);
      };
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        pending += chunk;
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          if (pending.startsWith('HTTP/1.1 304')) polls++;
          else failed++;
          pending = pending.slice(end + 4);
          if (first) {
            first = false;
            resolve();
          }
          again();
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (!stopping) failed++;
        if (first) closedBeforeAnswer++;
        resolve();
      });
      sockets.push(socket);
    });
  const started = Date.now();
  for (let i = 0; i < connections; i += BATCH)
    await Promise.all(Array.from({ length: Math.min(BATCH, connections - i) }, open));
  const up = Date.now();
  const allUp = treeRssKiB(pids());
  const samples: { at: number; kib: number }[] = [];
  const sampler = setInterval(() => samples.push({ at: Date.now() - up, kib: treeRssKiB(pids()) }), 500);
  await new Promise((r) => setTimeout(r, seconds * 1000 + 500));
  clearInterval(sampler);
  stopping = true;
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.destroy();
  const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
  return {
    connections,
    seconds,
    openSeconds: Math.round((up - started) / 100) / 10,
    polls,
    failed,
    closedBeforeAnswer,
    rssIdleMiB: mib(idle),
    rssAllUpMiB: mib(allUp),
    rssEndMiB: mib(samples.at(-1)?.kib ?? allUp),
    kibPerConnection: perConnection(samples, idle, connections, seconds + 1),
  };
}
