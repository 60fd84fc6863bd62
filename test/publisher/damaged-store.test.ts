// One published image damaged in the store (a byte flipped in targets/… after publication) must not
// block the operator: `rollout halt` from the CLI and the automatic monitor still publish the halt, and a
// later release still publishes, with a notice naming the damaged image. Publishing checks only the images
// it adds; images already published are carried over by their signed length and hashes. The damaged image
// is the devices' to refuse (they check every download against the signed targets), and they do.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { targetFilePath } from '../../src/core/format/target.ts';
import { readPublished } from '../../src/publisher/published.ts';
import { checkRollout } from '../../src/publisher/rollout-publish.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { configure, openAgent, serveStore } from '../device/agent/support.ts';
import { PASSPHRASE, sihl } from '../support/cli.ts';
import { type World, WS, world } from '../support/world.ts';

const PLAN = world()
  .withDevicesRunning('7.27.0', 1)
  .withReleasePublished('7.28.0')
  .withReleaseApproved('7.29.0');
const DAMAGED = 'movehub/movehub-7.28.0.sihl';

/** Flips one byte in the middle of the published image of 7.28.0, as a failing disk or a bad copy would. */
async function damagePublishedImage(w: World): Promise<string> {
  const entry = (await readPublished(w.store)).targets?.signed.targets[DAMAGED];
  assert.ok(entry?.hashes.sha256, '7.28.0 is published');
  const path = join(w.store, targetFilePath(DAMAGED, entry.hashes.sha256));
  const bytes = await readFile(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  await writeFile(path, bytes);
  return path;
}

function halted(w: World): Promise<boolean> {
  return readPublished(w.store).then((p) => p.targets?.signed.targets[DAMAGED]?.custom?.halted === true);
}

/** The world's device polls the store: what it does with what is offered now. */
async function pollDevice(w: World) {
  const server = await serveStore(w.store);
  try {
    const device = w.devices[0] as World['devices'][number];
    await configure(w, device, server);
    const { agent, sim } = await openAgent(device);
    const poll = await agent.poll();
    const reports = server.reports.map((r) => Buffer.from(r).toString('utf8'));
    return { poll, running: sim.bootState()?.running.version, reports };
  } finally {
    await server.close();
  }
}

test('a damaged published image does not block a rollout halt from the CLI; a device polling afterwards installs nothing', async () => {
  const w = await PLAN.build();
  await damagePublishedImage(w);
  const halt = await sihl(w.cwd, ['rollout', 'halt', 'movehub-7.28.0', ...WS]);
  assert.equal(halt.code, 0, halt.err);
  assert.doesNotMatch(halt.err, /PAYLOAD_DIGEST_MISMATCH/);
  assert.equal(await halted(w), true, 'the halt is published');

  const { poll, running } = await pollDevice(w);
  assert.notEqual(poll.outcome, 'staged', JSON.stringify(poll));
  assert.equal(running, '7.27.0', 'the device still runs what it ran');
});

test('a damaged published image does not block the automatic monitor from halting the rollout', async () => {
  const w = await PLAN.build();
  await damagePublishedImage(w);
  const workspace = await Workspace.open(join(w.cwd, 'acme'));
  const counts = { offered: 10, reported: 10, succeeded: 0, failed: 10 };
  const auto = await checkRollout(workspace, 'movehub-7.28.0', counts, {
    passphrases: async () => PASSPHRASE,
  });
  assert.equal(auto.decision.action, 'halt');
  assert.equal(auto.rollout.state.status, 'halted');
  assert.equal(await halted(w), true, 'the halt is published');
  const { poll } = await pollDevice(w);
  assert.notEqual(poll.outcome, 'staged', JSON.stringify(poll));
});

test('with a damaged published image, devices refuse it and a later release still publishes, with a notice naming it', async () => {
  const w = await PLAN.build();
  const path = await damagePublishedImage(w);
  // Before anything else: the device downloads the damaged image and refuses it against the signed hash.
  const refused = await pollDevice(w);
  assert.equal(refused.poll.outcome, 'error', JSON.stringify(refused.poll));
  assert.equal((refused.poll as { error?: { code: string } }).error?.code, 'TARGET_MISMATCH');
  assert.equal(refused.running, '7.27.0');
  // ... and reports it against the release, where the rollout counts take it as a failure.
  assert.ok(
    refused.reports.some((r) => r.includes('TARGET_MISMATCH') && r.includes(DAMAGED)),
    refused.reports.join('\n'),
  );

  const publish = await sihl(w.cwd, ['release', 'publish', 'movehub-7.29.0', ...WS]);
  assert.equal(publish.code, 0, publish.err);
  assert.match(publish.err, /movehub\/movehub-7\.28\.0\.sihl/, 'the operator is told which image is damaged');
  assert.ok(publish.err.includes(path), `the notice names the file: ${publish.err}`);

  const { poll } = await pollDevice(w);
  assert.equal(poll.outcome, 'staged', JSON.stringify(poll));
  assert.equal((poll as { version?: string }).version, '7.29.0');
});
