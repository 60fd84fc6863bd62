// Server down, failing or slow: the agent backs off exponentially up to a cap (delays read from an
// injected clock, so nothing waits), returns to its interval when the server is back, and bounded
// timeouts keep a silent or trickling server from holding it.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { writeAgentConfig } from '../../../src/device/agent/config.ts';
import { nextDelay } from '../../../src/device/agent/schedule.ts';
import {
  configure,
  deviceAt,
  type Fleet,
  makeFleet,
  openAgent,
  serveStore,
  testCertificate,
} from './support.ts';

const TIMING = { interval: 60, jitter: 0.1, backoff: 10, backoffCap: 60 };

/** Timers that record each delay and return at once; the poll loop stops after `polls` polls. */
function recorder(polls: number) {
  const delays: number[] = [];
  const controller = new AbortController();
  let count = 0;
  return {
    delays,
    signal: controller.signal,
    timers: {
      random: () => 0.5,
      sleep: async (ms: number) => {
        delays.push(ms);
      },
    },
    onPoll: () => {
      if (++count >= polls) controller.abort();
    },
  };
}

// One fleet for the file, made as it loads (so its clean-up belongs to the file, not to one test).
const shared = makeFleet({ count: 3 });
const fleet = (): Promise<Fleet> => shared;

test('with the server down, delays double from 10 s up to the 60 s cap, with jitter', async () => {
  const f = await fleet();
  const device = deviceAt(f, 0);
  // A port that was just closed: connections are refused.
  const probe = createTcpServer();
  await new Promise<void>((ready) => probe.listen(0, '127.0.0.1', ready));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((closed) => probe.close(closed));
  await configure(f, device, {
    url: `https://127.0.0.1:${port}/`,
    certificate: (await testCertificate()).cert,
  } as never);
  const clock = recorder(6);
  const { agent } = await openAgent(device, { timing: TIMING, timers: clock.timers });
  const last = await agent.run({ signal: clock.signal, onPoll: clock.onPoll });
  assert.equal(last.error?.code, 'NETWORK_ERROR');
  // 10, 20, 40, 60, 60 s, each shortened by the 5 % jitter that random() = 0.5 gives.
  assert.deepEqual(clock.delays, [9500, 19000, 38000, 57000, 57000]);
  assert.equal(nextDelay(TIMING, 0, 0.999), Math.round(60_000 * (1 - 0.0999)), 'jitter stays below 10 %');
});

test('a failing server (503) is backed off from, and the interval returns once it answers', async () => {
  const f = await fleet();
  const device = deviceAt(f, 1);
  const server = await serveStore(f.store);
  await configure(f, device, server);
  server.faults.status = { match: /timestamp\.json$/, code: 503 };
  const clock = recorder(4);
  clock.timers.sleep = async (ms: number) => {
    clock.delays.push(ms);
    if (clock.delays.length === 2) server.faults.status = undefined; // the server recovers
  };
  const { agent } = await openAgent(device, { timing: TIMING, timers: clock.timers });
  const outcomes: string[] = [];
  await agent.run({
    signal: clock.signal,
    onStaged: async () => {},
    onPoll: (result) => {
      outcomes.push(result.error?.code ?? result.outcome);
      clock.onPoll();
    },
  });
  assert.deepEqual(outcomes, ['SERVER_ERROR', 'SERVER_ERROR', 'staged', 'unchanged']);
  assert.deepEqual(clock.delays, [9500, 19000, 57000]);
});

test('a server that accepts and says nothing, or stalls mid-response, times out within its bounds', async () => {
  const f = await fleet();
  const device = deviceAt(f, 2);
  // TCP accepted, TLS never answered.
  const sockets: Socket[] = [];
  const silent = createTcpServer((socket) => sockets.push(socket));
  await new Promise<void>((ready) => silent.listen(0, '127.0.0.1', ready));
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { cert } = await testCertificate();
  const root = new Uint8Array(
    await import('node:fs/promises').then((fs) => fs.readFile(`${f.store}/metadata/1.root.json`)),
  );
  const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
  await writeAgentConfig(
    device.dir,
    { server: url, certificate: cert, index: device.idx, channel: 'stable', interval: 60 },
    root,
  );
  const network = { connectMs: 300, idleMs: 300, requestMs: 1000 };
  const quiet = await openAgent(device, { network });
  let started = Date.now();
  const timedOut = await quiet.agent.poll();
  assert.equal(timedOut.error?.code, 'NETWORK_TIMEOUT');
  assert.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`);

  // Headers, then silence in the middle of the image.
  const server = await serveStore(f.store);
  await configure(f, device, server);
  server.faults.cut = { match: /\.sihl$/, at: 5000, hang: true };
  const stalled = await openAgent(device, { network });
  started = Date.now();
  const result = await stalled.agent.poll();
  assert.equal(result.error?.code, 'NETWORK_TIMEOUT');
  assert.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`);
  assert.equal(stalled.sim.bootState()?.phase, 'idle');
});
