// A root of 2 of 3 keys held by three custodians: adding an approver is planned into a ceremony file,
// each custodian signs it on their own machine (a process of its own, their folder, their passphrase
// alone), the workspace applies it, and a device accepts the new approver's signature on the next
// release. Too few signatures, a changed file and a changed workspace are refused, changing nothing.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateSigningKeyPair } from '../../src/core/crypto/index.ts';
import {
  decodeDelegationBody,
  delegationMessage,
  encodeDelegationBody,
} from '../../src/core/format/delegation.ts';
import { decodeCeremony, encodeCeremony } from '../../src/publisher/ceremony-file.ts';
import { changes, fileHashes } from '../bad-input/support.ts';
import { configure, type Fleet, openAgent, serveStore } from '../device/agent/support.ts';
import { addApprover, custodianDir, custodianEnv, ok, sihl, sihlProcess } from '../support/cli.ts';
import { shipRelease, type World, WS, world } from '../support/world.ts';

/** A root of 2 of 3 keys held by three custodians, one device on 7.27.0 and 7.28.0 published. */
function custodiansAndADevice(): Promise<World> {
  return world().withRootKeys(3, 2).withDevicesRunning('7.27.0', 1).withReleasePublished('7.28.0').build();
}

/** `sihl keys add` of approver carol, planned into the ceremony file add-carol.json. */
function planAddingCarol(cwd: string, ...more: string[]): Promise<string> {
  return ok(cwd, [...addApprover('carol'), '--ceremony', 'add-carol.json', ...more, ...WS]);
}

/** Custodian `n` signs the ceremony file in their own folder, in a process of their own. */
async function custodianSigns(cwd: string, n: number, file = 'add-carol.json') {
  const dir = join(cwd, custodianDir(n));
  return sihlProcess(dir, ['ceremony', 'sign', file, '--root-key', `root-${n}.key`], custodianEnv(n));
}

/** A copy of the ceremony file from `from` (a folder of `cwd`) to `to`: handed over on a USB stick. */
async function handOver(cwd: string, from: string, to: string, file = 'add-carol.json') {
  await copyFile(join(cwd, from, file), join(cwd, to, file));
}

/** The world's first device polls its store over HTTPS, stages what is new, and boots. */
async function pollAndBoot(w: World) {
  const server = await serveStore(w.store);
  try {
    const device = w.devices[0] as Fleet['devices'][number];
    await configure(w, device, server);
    const { agent, sim } = await openAgent(device);
    const polled = await agent.poll();
    assert.deepEqual([polled.outcome, polled.version], ['staged', '7.28.1'], JSON.stringify(polled));
    return { boot: await sim.boot(), sim };
  } finally {
    await server.close();
  }
}

test('2 of 3 custodians sign a ceremony adding carol; apply works and a device accepts her approval', async () => {
  const w = await custodiansAndADevice();
  const { cwd } = w;
  const planned = JSON.parse(await planAddingCarol(cwd, '--json'));
  assert.equal(planned.ceremony.ready, false);
  assert.match(planned.ceremony.change, /add release approver carol/);
  const file = JSON.parse(await readFile(join(cwd, 'add-carol.json'), 'utf8'));
  assert.deepEqual(
    file.messages.map((m: { kind: string }) => m.kind),
    ['delegation'],
    'the delegation body, to be signed by 2 of the 3 root keys (approvers are not in the TUF root)',
  );
  assert.doesNotMatch(JSON.stringify(file), /ciphertext|secret|passphrase/i, 'no private material');
  await stat(join(cwd, 'acme', 'keys', 'pending', 'carol.key'));

  // Apply with no signature, then with one: refused, and the workspace and store are as they were.
  const before = await fileHashes(join(cwd, 'acme'));
  const none = await sihl(cwd, ['ceremony', 'apply', 'add-carol.json', ...WS]);
  assert.match(none.err, /not signed by enough root keys yet.*0 of the 2 root keys.*SIGNATURE_THRESHOLD/);
  await handOver(cwd, '.', custodianDir(1));
  const first = await custodianSigns(cwd, 1);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /^root-1 signed\n[\s\S]*still needed:\n {2}.*signed by 1 of the 2 root keys/);
  const again = await custodianSigns(cwd, 1);
  assert.match(again.err, /root-1 has signed this ceremony already.*SIGNATURE_DUPLICATE_KEY/);
  await handOver(cwd, custodianDir(1), '.');
  const one = await sihl(cwd, ['ceremony', 'apply', 'add-carol.json', ...WS]);
  assert.match(one.err, /signed by 1 of the 2 root keys/);
  assert.deepEqual(changes(before, await fileHashes(join(cwd, 'acme'))), [], 'nothing changed');

  // A key the ceremony does not name is refused, even a custodian's own spare.
  await ok(cwd, ['keys', 'generate', '--name', 'spare', '--out', custodianDir(2)]);
  await handOver(cwd, custodianDir(1), custodianDir(2));
  const spare = await sihlProcess(
    join(cwd, custodianDir(2)),
    ['ceremony', 'sign', 'add-carol.json', '--root-key', 'spare.key'],
    {
      SIHL_PASSPHRASE_SPARE: 'correct horse battery staple',
    },
  );
  assert.match(spare.err, /not one of the root keys the ceremony names \(root-1, root-2, root-3\)/);
  const second = await custodianSigns(cwd, 2);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /^root-2 signed\n[\s\S]*every threshold is met: run sihl ceremony apply/);

  await handOver(cwd, custodianDir(2), '.');
  const applied = JSON.parse(await ok(cwd, ['ceremony', 'apply', 'add-carol.json', '--json', ...WS]));
  assert.deepEqual(
    [applied.change, applied.name, applied.delegationVersion, applied.publishedRootVersion],
    ['add', 'carol', 2, null],
  );
  await stat(join(cwd, 'acme', 'keys', 'carol.key'));

  // Carol and alice approve 7.28.1 (bob does not); the device walks to the new TUF root and installs it.
  await shipRelease(cwd, '7.28.1', { approvers: ['carol', 'alice'] });
  const { boot } = await pollAndBoot(w);
  assert.deepEqual([boot.outcome, boot.installed, boot.running.version], ['booted', true, '7.28.1']);
});

test('a changed ceremony file is refused by sign and apply; a workspace changed since planning is refused', async () => {
  const { cwd } = await world().withRootKeys(3, 2).build();
  await planAddingCarol(cwd);
  await handOver(cwd, '.', custodianDir(1));
  assert.equal((await custodianSigns(cwd, 1)).code, 0);
  const signed = await readFile(join(cwd, custodianDir(1), 'add-carol.json'), 'utf8');

  // Someone on the way swaps carol's key in the delegation body for their own (same length).
  const file = JSON.parse(signed);
  const body = Buffer.from(file.messages[0].bytes, 'base64');
  body[body.length - 1] = (body[body.length - 1] as number) ^ 1;
  file.messages[0].bytes = body.toString('base64');
  await writeFile(join(cwd, custodianDir(2), 'add-carol.json'), JSON.stringify(file));
  const bySign = await custodianSigns(cwd, 2);
  assert.match(bySign.err, /not a valid ceremony file: .*CEREMONY_INVALID/);
  // And one who also rewrites the name in the change: still refused, before any passphrase is asked for.
  const renamed = JSON.parse(signed);
  renamed.change.name = 'mallory';
  await writeFile(join(cwd, 'renamed.json'), JSON.stringify(renamed));
  const before = await fileHashes(join(cwd, 'acme'));
  const byApply = await sihl(cwd, ['ceremony', 'apply', 'renamed.json', ...WS]);
  assert.match(byApply.err, /CEREMONY_INVALID/);

  // Signed properly, but the workspace changed since it was planned: plan again.
  await handOver(cwd, custodianDir(1), custodianDir(2));
  assert.equal((await custodianSigns(cwd, 2)).code, 0);
  await handOver(cwd, custodianDir(2), '.');
  await ok(
    cwd,
    [
      ...addApprover('dave'),
      '--root-key',
      `${custodianDir(1)}/root-1.key`,
      '--root-key',
      `${custodianDir(3)}/root-3.key`,
      ...WS,
    ],
    {
      SIHL_PASSPHRASE: 'dave',
      ...custodianEnv(1),
      ...custodianEnv(3),
    },
  );
  const afterDave = await fileHashes(join(cwd, 'acme'));
  assert.notDeepEqual(changes(before, afterDave), []);
  const stale = await sihl(cwd, ['ceremony', 'apply', 'add-carol.json', ...WS]);
  assert.match(stale.err, /the workspace changed since this ceremony was planned.*CEREMONY_STALE/);
  assert.deepEqual(changes(afterDave, await fileHashes(join(cwd, 'acme'))), [], 'nothing changed');
});

test('a ceremony file rewritten on its way with an attacker key, consistently: custodians may sign it, apply refuses it', async () => {
  const { cwd } = await world().withRootKeys(3, 2).build();
  await planAddingCarol(cwd);
  // Between the release manager and the first custodian, someone puts their own key where carol's is and
  // makes the file whole again: id, words and bytes agree, so a custodian who does not compare key ids
  // with carol's signs it.
  const original = decodeCeremony(await readFile(join(cwd, 'add-carol.json')));
  const carol = original.planned.newKey as NonNullable<typeof original.planned.newKey>;
  const mallory = generateSigningKeyPair().publicKey;
  const prefix = delegationMessage(new Uint8Array()).length;
  const messages = original.planned.messages.map((m) => {
    if (m.kind !== 'delegation') return m;
    const body = decodeDelegationBody(m.bytes.subarray(prefix));
    const keys = body.keys.map((k) => (Buffer.compare(k, carol.publicKey) === 0 ? mallory : k));
    return { ...m, bytes: delegationMessage(encodeDelegationBody({ ...body, keys })) };
  });
  const planned = { ...original.planned, newKey: { ...carol, publicKey: mallory }, messages };
  await writeFile(join(cwd, custodianDir(1), 'add-carol.json'), encodeCeremony({ planned, signatures: [] }));
  const first = await custodianSigns(cwd, 1);
  assert.equal(first.code, 0, `the rewritten file is whole: ${first.err}`);
  await handOver(cwd, custodianDir(1), custodianDir(2));
  assert.equal((await custodianSigns(cwd, 2)).code, 0);
  await handOver(cwd, custodianDir(2), '.');

  // The workspace works the change out again from carol's pending key: the bytes differ, nothing changes.
  const before = await fileHashes(join(cwd, 'acme'));
  const applied = await sihl(cwd, ['ceremony', 'apply', 'add-carol.json', ...WS]);
  assert.notEqual(applied.code, 0, applied.out);
  assert.match(applied.err, /CEREMONY_(INVALID|STALE)/);
  assert.deepEqual(changes(before, await fileHashes(join(cwd, 'acme'))), [], 'nothing changed');
  const config = JSON.parse(await readFile(join(cwd, 'acme', 'sihl.json'), 'utf8'));
  assert.ok(!config.roles.targets.keys.includes('carol'), 'carol is not an approver by the forged file');
});

test('a root key rotated by ceremony: the new key, made onto new media, signs with 2 of the old; devices walk to it', async () => {
  const w = await custodiansAndADevice();
  const { cwd } = w;
  const plan = ['keys', 'rotate', '--role', 'root', '--name', 'root-3', '--ceremony', 'rotate.json', ...WS];
  const nowhere = await sihl(cwd, plan, custodianEnv(3));
  assert.match(nowhere.err, /the new root-3 is written outside the workspace: pass --root-dir/);
  const planned = await ok(cwd, [...plan, '--root-dir', 'custodian-3-new'], custodianEnv(3));
  assert.match(planned, /replace the root key root-3 with a new key/);
  assert.match(planned, /root-chain statement .*: root version 2 that devices walk to/);
  assert.match(planned, /signed by: root-3 [0-9a-f]{16}…/, 'the new key signed at planning');
  await stat(join(cwd, 'custodian-3-new', 'root-3.key'));
  await assert.rejects(stat(join(cwd, 'acme', 'keys', 'root-3.key')), 'never in the workspace');
  for (const n of [1, 2]) {
    await handOver(cwd, '.', custodianDir(n), 'rotate.json');
    const signed = await custodianSigns(cwd, n, 'rotate.json');
    assert.equal(signed.code, 0, signed.err);
    await handOver(cwd, custodianDir(n), '.', 'rotate.json');
  }
  const applied = JSON.parse(await ok(cwd, ['ceremony', 'apply', 'rotate.json', '--json', ...WS]));
  assert.deepEqual([applied.change, applied.rootVersion, applied.publishedRootVersion], ['rotate', 2, 2]);

  // The device that pinned root version 1 installs a release made after it, and pins version 2.
  await shipRelease(cwd, '7.28.1');
  const { boot, sim } = await pollAndBoot(w);
  assert.deepEqual([boot.outcome, boot.running.version], ['booted', '7.28.1']);
  if (boot.trial) sim.confirm(); // the new firmware's self-test passes: the install completes
  assert.equal(sim.secureElement.trust().rootVersion, 2);
});
