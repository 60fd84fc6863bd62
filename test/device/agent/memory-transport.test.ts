// The agent over its transport's in-memory twin (src/device/agent/memory-transport.ts): the same update
// as over HTTPS — the new release found, staged, installed at boot and reported, signed — with no TLS
// server, and a quiet poll that costs one request answered 304.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { verifySignedReport } from '../../../src/core/format/report.ts';
import { MemoryTransport } from '../../../src/device/agent/memory-transport.ts';
import { configure, deviceAt, type Fleet, lastOf, makeFleet, openAgent, testCertificate } from './support.ts';

/** Every file of the fleet's store, served from memory. */
async function storeInMemory(fleet: Fleet): Promise<MemoryTransport> {
  const transport = new MemoryTransport();
  for (const entry of await readdir(fleet.store, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    transport.files.set(relative(fleet.store, path), new Uint8Array(await readFile(path)));
  }
  return transport;
}

/** A fleet's first device with its agent on the in-memory transport; `damage` changes the store first. */
async function deviceOverMemory(damage: (files: Map<string, Uint8Array>) => void = () => {}) {
  const fleet = await makeFleet();
  const device = deviceAt(fleet, 0);
  const transport = await storeInMemory(fleet);
  damage(transport.files);
  const { cert } = await testCertificate();
  await configure(fleet, device, { url: transport.base.href, certificate: cert } as never);
  return { fleet, transport, ...(await openAgent(device, { transport })) };
}

test('over the in-memory transport a device stages the release, installs it at boot and reports it', async () => {
  const { fleet, transport, agent, sim } = await deviceOverMemory();

  const result = await agent.poll();
  assert.equal(result.outcome, 'staged', JSON.stringify(result));
  assert.equal(result.version, '7.28.0');
  const boot = await sim.boot();
  assert.equal(boot.installed, true);
  assert.deepEqual(sim.executable(fleet.firmware.length), fleet.firmware);
  await agent.reportBoot(boot);
  const sent = lastOf(transport.posted);
  assert.equal(sent.path, '/v1/reports');
  const report = verifySignedReport(sent.body, sim.secureElement.identity().sign);
  assert.equal(report.outcome, 'installed');
  assert.equal(report.running, '7.28.0');

  const before = transport.stats.requests;
  assert.equal((await agent.poll()).outcome, 'unchanged');
  assert.equal(transport.stats.requests - before, 1, 'a quiet poll is one request');
});

test('a store that lost the image is a failed poll that stages nothing', async () => {
  const { agent, sim } = await deviceOverMemory((files) => {
    for (const path of files.keys()) if (path.endsWith('.sihl')) files.delete(path);
  });
  const result = await agent.poll();
  assert.equal(result.outcome, 'error');
  assert.notEqual(sim.bootState()?.phase, 'pending');
});
