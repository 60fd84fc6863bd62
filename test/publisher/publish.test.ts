// The vendor's release flow through the CLI, in a world of two approvers and three devices (one
// revoked), a release created, approved twice, checked and published; the stock tuf-js client verifies
// the store and downloads the image, the two valid devices' bootloaders install it with the envelope
// they find in the store, and the revoked device has none.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { kdfDerivations } from '../../src/core/crypto/index.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { publishRelease } from '../../src/publisher/publish-release.ts';
import { openRelease } from '../../src/publisher/release.ts';
import { refreshTimestamp } from '../../src/publisher/timestamp.ts';
import { Workspace } from '../../src/publisher/workspace.ts';
import { ok, PASSPHRASE, releaseCreate, sihl } from '../support/cli.ts';
import { envelopeInStore } from '../support/tables.ts';
import { WS, world } from '../support/world.ts';
import { client, fetchTarget, serve } from './tuf/support.ts';

test('a release that only approved, registered devices install', async () => {
  const { cwd, devices } = await world().withDevicesRunning('7.27.0', 3).withRevokedDevice().build();
  const ws = WS;
  const firmware = new Uint8Array(await readFile(join(cwd, 'new.bin')));

  await ok(cwd, [...releaseCreate('new.bin', 'movehub', '7.28.0', '1'), ...ws]);
  await ok(cwd, ['release', 'approve', 'movehub-7.28.0', '--key', 'alice', ...ws]);
  const early = await sihl(cwd, ['release', 'publish', 'movehub-7.28.0', ...ws]);
  assert.equal(early.code, 1, 'one approval only: publish refuses');
  assert.match(early.err, /POLICY_FAILED/);
  await ok(cwd, ['release', 'approve', 'movehub-7.28.0', '--key', 'bob', ...ws]);
  await ok(cwd, ['release', 'check', 'movehub-7.28.0', ...ws]);
  const published = JSON.parse(await ok(cwd, ['release', 'publish', 'movehub-7.28.0', '--json', ...ws]));
  assert.equal(published.envelopes.sealed, 2, 'two valid devices, one revoked');

  // The stock tuf-js client, trusting only root version 1, verifies the chain and downloads the image.
  const store = join(cwd, 'acme', 'store');
  const base = await serve(store);
  const rootV1 = new Uint8Array(await readFile(join(store, 'metadata', '1.root.json')));
  const { updater } = await client(base, rootV1);
  const image = await fetchTarget(updater, published.target);
  assert.deepEqual(
    image,
    new Uint8Array(await readFile(join(cwd, 'acme', 'releases', 'movehub-7.28.0', 'image.sihl'))),
  );

  for (const device of devices) {
    const sim = await SimulatedDevice.load(device.dir);
    const envelope = await envelopeInStore(store, published.target, sim.secureElement.identity().box);
    if (device === devices[2]) {
      assert.equal(envelope, undefined, 'the revoked device has no envelope');
      continue;
    }
    assert.ok(envelope);
    sim.stage(image, envelope);
    const report = await sim.boot();
    assert.equal(report.outcome, 'booted');
    assert.equal(report.running.version, '7.28.0');
    assert.deepEqual(sim.executable(firmware.length), firmware);
  }

  // The timestamp expires in a day; a refresh re-signs it and clients follow.
  // The scheduled job runs from the online folder, which holds the online keys only.
  await ok(cwd, ['online', 'create', 'online', ...ws]);
  const refreshed = JSON.parse(await ok(cwd, ['timestamp', 'refresh', '--json', '--workspace', 'online']));
  assert.equal(refreshed.version, 2);
  const second = await client(base, rootV1);
  assert.deepEqual(await fetchTarget(second.updater, published.target), image);
  // Eight days on, the week-long snapshot would lapse before the new timestamp: it is re-signed too.
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const later = await refreshTimestamp(workspace, async () => PASSPHRASE, {
    now: () => new Date(Date.now() + 8 * 86_400_000),
  });
  assert.equal(later.snapshotRenewed, true);
  assert.equal(later.version, 3);

  const again = await sihl(cwd, ['release', 'check', 'movehub-7.28.0', ...ws]);
  assert.equal(again.code, 1);
  assert.match(again.err, /version-rises/, 'the same version cannot be published twice');
});

test('a rollout gives envelopes to about that share of the devices, by a stable hash', async () => {
  const { inRollout } = await import('../../src/publisher/publish-release.ts');
  const release = new Uint8Array(16).fill(7);
  const ids = Array.from({ length: 2000 }, (_, i) => i.toString(16).padStart(64, '0'));
  const chosen = ids.filter((id) => inRollout(release, id, 10)).length;
  assert.ok(chosen > 140 && chosen < 260, `${chosen} of 2000 devices in a 10 % rollout`);
  assert.deepEqual(
    ids.filter((id) => inRollout(release, id, 10)),
    ids.filter((id) => inRollout(release, id, 10)),
  );
  assert.ok(
    ids.filter((id) => inRollout(release, id, 10)).every((id) => inRollout(release, id, 50)),
    'widening keeps who was in',
  );
  assert.equal(ids.filter((id) => inRollout(release, id, 0)).length, 0);
  assert.equal(ids.filter((id) => inRollout(release, id, 100)).length, 2000);
});

test('publishing an encrypted release asks for each key once and derives each once: the gate and the sealing share the opened content key', async () => {
  const { cwd } = await world().withDevicesRunning('7.27.0', 1).withReleaseApproved('7.28.0').build();
  const workspace = await Workspace.open(join(cwd, 'acme'));
  const asked: string[] = [];
  const passphrases = async (name: string) => {
    asked.push(name);
    return PASSPHRASE;
  };
  const release = await openRelease(join(workspace.dir, 'releases', 'movehub-7.28.0'));
  const before = kdfDerivations();
  const published = await publishRelease(workspace, release, {
    channel: 'stable',
    rollout: 100,
    passphrases,
    logCredential: undefined,
  });
  assert.equal(published.envelopes?.sealed, 1, 'the image is encrypted and sealed to the device');
  assert.deepEqual(
    asked.filter((name) => name === 'movehub-7.28.0 content key'),
    ['movehub-7.28.0 content key'],
  );
  assert.equal(new Set(asked).size, asked.length, `each key asked once: ${asked.join(', ')}`);
  // One Argon2id run per key file asked for (the online keys and the content key), none twice: at
  // MODERATE or INTERACTIVE cost each extra run is a second or more of a publish.
  assert.equal(kdfDerivations() - before, asked.length, `key files opened: ${asked.join(', ')}`);
});
