// A halt reaches the store devices read: with the repository in an S3 bucket (s3rver) and in Azure Blob
// Storage (Azurite), and device logs in Azure Table Storage, a halt from the CLI, from the console of
// `sihl serve`, from its automatic monitor and from `rollout check` each leave a device that polls the
// bucket afterwards with nothing to install; resumed, the same device installs the release.
// Emulator-backed: one s3rver and one Azurite for the file.
// tag: slow (starts s3rver and Azurite)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromHex } from '../../src/core/format/bytes.ts';
import { inRollout } from '../../src/core/rollout.ts';
import { openRelease } from '../../src/publisher/release.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { startService } from '../../src/server/service.ts';
import { openLogStore, parseLogLocation } from '../../src/storage/locations.ts';
import {
  CRASHED,
  type LightDevice,
  RELEASE,
  registerLightDevices,
  TARGET,
  writeReports,
} from '../publisher/rollout-support.ts';
import { AZURITE_ACCOUNT } from '../support/azurite.ts';
import { PASSPHRASE } from '../support/cli.ts';
import { httpsRequest } from '../support/server.ts';
import {
  type CloudFleet,
  configureDevice,
  makeCloudFleet,
  provisionAzure,
  readOnlySas,
  run,
  startEmulators,
  WS,
} from './cloud-support.ts';

const { certificate, s3, azurite, env } = await startEmulators(['firmware']);
const LOG = `azure://${AZURITE_ACCOUNT}/devicelogs`;
await provisionAzure(azurite, { table: 'devicelogs' });

/**
 * A device of the stage (only those count: docs/ROLLOUTS.md §What counts), registered straight into the
 * registry, that files failure reports in the log table.
 */
function failingDevice(workspace: Workspace, inStage: (id: string) => boolean): LightDevice {
  return registerLightDevices(workspace, 1, 'movehub', inStage)[0] as LightDevice;
}

/** The device writes, as with its own SAS, that the release crashed it. */
async function reportFailure(device: LightDevice): Promise<void> {
  const logs = await openLogStore(parseLogLocation(LOG), env);
  await writeReports(logs, [device], CRASHED);
  await logs.close();
}

/** POST to the console's API as an operator, over the pinned certificate. */
async function consolePost(
  url: string,
  token: string,
  path: string,
): Promise<{ status: number; body: string }> {
  const headers = { authorization: `Bearer ${token}` };
  const answer = await httpsRequest(new URL(path, url), { method: 'POST', ca: certificate.cert, headers });
  return { status: answer.status, body: answer.body.toString('utf8') };
}

type SimDevice = CloudFleet['devices'][number];

/**
 * A rollout under way (below 100 %, where the monitor watches) that includes one of the devices: the
 * device whose stable hash is lowest, and the smallest whole percent that takes it in.
 */
async function rolloutWithOne(
  fleet: CloudFleet,
): Promise<{ device: SimDevice; percent: number; inStage: (id: string) => boolean }> {
  const release = await openRelease(join(fleet.cwd, 'acme', 'releases', RELEASE));
  const releaseId = fromHex(release.info.releaseId);
  const percentFor = (d: SimDevice) => {
    let percent = 1;
    while (!inRollout(releaseId, d.id, percent)) percent++;
    return percent;
  };
  const [best] = fleet.devices
    .map((d) => ({ device: d, percent: percentFor(d) }))
    .sort((a, b) => a.percent - b.percent);
  assert.ok(best && best.percent < 100, 'one of two devices lands below 100 % (odds 9,999 in 10,000)');
  return { ...best, inStage: (id) => inRollout(releaseId, id, best.percent) };
}

/** One poll of the sim device against the bucket; returns what it installed. */
async function poll(fleet: CloudFleet, device: SimDevice): Promise<string[]> {
  const ran = await run(fleet, ['sim', 'device', 'run', device.dir, '--once']);
  return ran.installed;
}

async function haltsReachTheStore(fleet: CloudFleet, server: string): Promise<void> {
  const { device, percent, inStage } = await rolloutWithOne(fleet);
  await run(fleet, ['release', 'publish', RELEASE, '--rollout', String(percent), ...WS]);
  await run(fleet, ['rollout', 'status', RELEASE, '--min-failures', '1', ...WS]);
  await configureDevice(fleet, device, server);

  // From the CLI.
  const halted = await run(fleet, ['rollout', 'halt', RELEASE, ...WS]);
  assert.equal(halted.status, 'halted');
  assert.ok(halted.store.uploaded >= 3, 'new targets, snapshot and timestamp went up');
  assert.deepEqual(await poll(fleet, device), [], 'halted from the CLI');
  await run(fleet, ['rollout', 'resume', RELEASE, ...WS]);

  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  const events: { action: string }[] = [];
  const service = await startService({
    workspace,
    key: certificate.key,
    cert: certificate.cert,
    port: 0,
    env: fleet.env,
    passphrases: async () => PASSPHRASE,
    checkDelayMs: 0,
    checkEveryMs: 100,
    onEvent: (event) => events.push(event),
  });
  try {
    // From the console.
    const token = (await readFile(join(workspace.dir, 'console', 'operator.token'), 'utf8')).trim();
    const answer = await consolePost(service.url, token, `/console/api/releases/${RELEASE}/halt`);
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(await poll(fleet, device), [], 'halted from the console');
    await consolePost(service.url, token, `/console/api/releases/${RELEASE}/resume`);

    // From the automatic monitor: it reads the log table devices write to.
    await reportFailure(failingDevice(workspace, inStage));
    const deadline = Date.now() + 30_000;
    while (!events.some((e) => e.action === 'halt') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      events.some((e) => e.action === 'halt'),
      `the monitor halted the rollout (last error: ${service.console?.monitor.lastError})`,
    );
    assert.deepEqual(await poll(fleet, device), [], 'halted by the monitor');
    await consolePost(service.url, token, `/console/api/releases/${RELEASE}/resume`);
  } finally {
    await service.close();
  }

  // From `rollout check` (cron, in the online folder: it refuses the workspace's keys), reading the
  // same log table.
  await reportFailure(failingDevice(workspace, inStage));
  await run(fleet, ['online', 'create', 'online', ...WS]);
  const ONLINE = ['--workspace', 'online'];
  const checked = await run(fleet, ['rollout', 'check', RELEASE, ...ONLINE]);
  assert.equal(checked.decision.action, 'halt', JSON.stringify(checked));
  assert.equal(checked.counts.failed, 1);
  assert.deepEqual(await poll(fleet, device), [], 'halted by rollout check');

  // Resumed, the same device on the same bucket installs the release: the polls above could see it.
  await run(fleet, ['rollout', 'resume', RELEASE, ...ONLINE]);
  assert.deepEqual(await poll(fleet, device), [TARGET]);
}

test('halts from the CLI, the console, the monitor and rollout check reach an S3 bucket', async () => {
  const fleet = await makeCloudFleet({ env, store: 's3://firmware/acme', log: LOG, count: 2 });
  await writeStorePem(fleet);
  await haltsReachTheStore(fleet, `${s3.endpoint}/firmware/acme/`);
});

test('halts from the CLI, the console, the monitor and rollout check reach Azure Blob Storage', async () => {
  await provisionAzure(azurite, { container: 'firmware' });
  const fleet = await makeCloudFleet({
    env,
    store: `azure://${AZURITE_ACCOUNT}/firmware/acme`,
    log: LOG,
    count: 2,
  });
  await writeStorePem(fleet);
  const sas = readOnlySas('firmware');
  await haltsReachTheStore(fleet, `${azurite.blobEndpoint}/firmware/acme/?${sas}`);
});

async function writeStorePem(fleet: CloudFleet): Promise<void> {
  await writeFile(join(fleet.cwd, 'store.pem'), certificate.cert);
}
