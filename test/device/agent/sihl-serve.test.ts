// The agent against sihl's own HTTPS server (src/server), not the test helper: the device
// updates, its signed report lands in the log store, and a poll with nothing new is one 304.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifySignedReport } from '../../../src/core/format/report.ts';
import { Workspace } from '../../../src/publisher/workspace.ts';
import { serveWorkspace } from '../../support/server.ts';
import { configure, deviceAt, lastOf, makeFleet, openAgent } from './support.ts';

test('through `sihl serve`: the device installs 7.28.0, reports it, then polls with one 304', async () => {
  const fleet = await makeFleet();
  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  const server = await serveWorkspace(workspace);
  const { cert, logStore } = server;
  const device = deviceAt(fleet, 0);
  await configure(fleet, device, { url: `${server.url.replace(/\/?$/, '/')}`, certificate: cert } as never);
  const { agent, sim } = await openAgent(device);
  const staged = await agent.poll();
  assert.equal(staged.outcome, 'staged', JSON.stringify(staged));
  const boot = await sim.boot();
  assert.equal(boot.running.version, '7.28.0');
  await agent.reportBoot(boot);
  assert.deepEqual(agent.state.outbox, [], 'the server accepted the report');
  const entries = [];
  for await (const entry of logStore.query({ deviceId: device.id })) entries.push(entry);
  const report = verifySignedReport(lastOf(entries).report, sim.secureElement.identity().sign);
  assert.equal(report.outcome, 'installed');

  const quiet = await agent.poll();
  assert.equal(quiet.outcome, 'unchanged');
  assert.equal(quiet.requests, 1);
  assert.equal(quiet.bytes, 0);
});
