// Attacks by a malicious mirror (or a compromised server) between the store and a device, each run
// through the real agent, sihl's real HTTPS server behind the mirror and the device's real bootloader.
// Every attack ends with 7.27.0 still running byte for byte, nothing installed, and a reason code in
// the agent's state and in the signed report the server stored.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHex } from '../../src/core/format/bytes.ts';
import { ENVELOPE_BYTES } from '../../src/core/format/envelope.ts';
import { BUCKET_SLOTS, RECIPIENT_OFFSET, recipientIdFor } from '../../src/core/format/slot-table.ts';
import { parseTargetCustom } from '../../src/core/format/target.ts';
import { AGENT_LIMITS } from '../../src/device/agent/limits.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { readPublished, targetEntries } from '../../src/publisher/published.ts';
import { TIMESTAMP_PATH } from '../../src/publisher/tuf/publish.ts';
import { testKey } from '../helpers.ts';
import { envelopeInStore } from '../support/tables.ts';
import {
  assertRefusedByAgent,
  assertRejectedAtBoot,
  customFor,
  forgeImage,
  forgeRepository,
  makeBench,
  offerImage,
  overflow,
  serveBytes,
  serveFiles,
  signingKeys,
  status,
  trickle,
  trustCurrentMetadata,
  victim,
} from './support.ts';

const shared = makeBench();

test('the bench itself is honest: through the mirror a copy of the device stages 7.29.0', async () => {
  const bench = await shared;
  bench.mirror.rules = [];
  const v = await victim(bench);
  const result = await v.agent.poll();
  assert.equal(result.outcome, 'staged', JSON.stringify(result));
  assert.equal(result.version, '7.29.0');
});

test('endless data: image bytes past the range asked for (the signed length) are refused (LIMIT_EXCEEDED)', async () => {
  const bench = await shared;
  bench.mirror.rules = [overflow(/\.sihl$/, 1024 * 1024)];
  const v = await victim(bench);
  const result = await v.agent.poll();
  assert.ok(result.bytes < AGENT_LIMITS.pieceBytes + 2 * 64 * 1024, `${result.bytes} bytes taken`);
  await assertRefusedByAgent(bench, v, result, 'LIMIT_EXCEEDED');
});

test('endless data: a timestamp.json that never ends is cut off at 16 KiB (LIMIT_EXCEEDED)', async () => {
  const bench = await shared;
  bench.mirror.rules = [overflow(/\/timestamp\.json$/, Number.POSITIVE_INFINITY)];
  const v = await victim(bench);
  const result = await v.agent.poll();
  assert.ok(result.bytes <= AGENT_LIMITS.timestampBytes + 64 * 1024, `${result.bytes} bytes taken`);
  await assertRefusedByAgent(bench, v, result, 'LIMIT_EXCEEDED');
});

test('endless data: a snapshot longer than the length the timestamp signed is cut off at that length', async () => {
  const bench = await shared;
  bench.mirror.rules = [overflow(/\.snapshot\.json$/, 10 * 1024 * 1024)];
  const v = await victim(bench);
  const result = await v.agent.poll();
  assert.ok(result.bytes < 1024 * 1024, `${result.bytes} bytes taken`);
  // tuf-js wraps the limit in its own error, so the agent files it as refused metadata.
  assert.match(result.error?.message ?? '', /snapshot\.json: more than \d+ bytes/);
  await assertRefusedByAgent(bench, v, result, 'TUF_METADATA_INCONSISTENT');
});

test('slow retrieval: an image sent 1 byte every 10 s is abandoned at the request bound (NETWORK_TIMEOUT)', async () => {
  const bench = await shared;
  bench.mirror.rules = [trickle(/\.sihl$/, 10_000)];
  // The idle bound (15 s) never fires against a byte every 10 s; the whole-request bound does.
  const v = await victim(bench, { network: { requestMs: 1500 } });
  const started = Date.now();
  const result = await v.agent.poll();
  assert.ok(Date.now() - started < 4000, `gave up after ${Date.now() - started} ms`);
  await assertRefusedByAgent(bench, v, result, 'NETWORK_TIMEOUT');
  assert.equal(v.agent.state.download?.written, 0, 'no partial sector is kept');
});

test('slow retrieval: a timestamp sent 1 byte every 10 s is abandoned at the request bound (NETWORK_TIMEOUT)', async () => {
  const bench = await shared;
  bench.mirror.rules = [trickle(/\/timestamp\.json$/, 10_000)];
  const v = await victim(bench, { network: { requestMs: 1000 } });
  const started = Date.now();
  const result = await v.agent.poll();
  assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`);
  bench.mirror.rules = [];
  await assertRefusedByAgent(bench, v, result, 'NETWORK_TIMEOUT');
});

// A real, fully signed targets (snapshot) file of the next version, served under the current version's name.
for (const [role, name, message] of [
  [
    'targets',
    'mix-and-match: targets metadata signed by the rollout key but not the one the snapshot names is refused',
    /targets/i,
  ],
  [
    'snapshot',
    'mix-and-match: a snapshot that does not match the timestamp (another, validly signed one) is refused',
    undefined,
  ],
] as const) {
  test(name, async () => {
    const bench = await shared;
    const forged = await forgeRepository(bench, {});
    const [path, bytes] = [...forged].find(([p]) => p.endsWith(`.${role}.json`)) as [string, Uint8Array];
    const current = Number(new RegExp(`(\\d+)\\.${role}\\.json$`).exec(path)?.[1]) - 1;
    bench.mirror.rules = [serveBytes(new RegExp(`/${current}\\.${role}\\.json$`), bytes)];
    const v = await victim(bench);
    const result = await v.agent.poll();
    if (message) assert.match(result.error?.message ?? '', message);
    await assertRefusedByAgent(bench, v, result, 'TUF_METADATA_INCONSISTENT');
  });
}

test('rollback: the timestamp of an older publication, replayed after a newer one, is refused', async () => {
  const bench = await shared;
  bench.mirror.rules = [];
  const v = await victim(bench);
  await trustCurrentMetadata(bench, v);
  // Still signed and unexpired; it leads to the repository before 7.29.0 was published.
  bench.mirror.rules = [serveBytes(/\/timestamp\.json$/, bench.firstTimestamp)];
  const result = await v.agent.poll();
  assert.match(result.error?.message ?? '', /version 1 is less than current version 2/);
  await assertRefusedByAgent(bench, v, result, 'TUF_METADATA_INCONSISTENT');
});

test('arbitrary software: with every online key but no approver key, an image without a threshold of approver signatures is refused before staging', async () => {
  const bench = await shared;
  // Rollout, snapshot and timestamp keys list the image; the attacker signs it with a key of their own.
  const mallory = testKey('mallory');
  const image = await forgeImage(bench, { signers: [mallory], version: '9.0.0' });
  const { v, result } = await offerImage(bench, image);
  await assertRefusedByAgent(bench, v, result, 'SIGNATURE_UNKNOWN_KEY');
});

test('key compromise below the threshold: one stolen approver key and every online key ship nothing', async () => {
  const bench = await shared;
  // The TUF metadata is complete (the rollout key lists the image); the image is signed by alice alone.
  const [alice] = await signingKeys(bench, 'alice');
  const image = await forgeImage(bench, { signers: [alice as never], version: '9.0.0' });
  const { v, result } = await offerImage(bench, image);
  await assertRefusedByAgent(bench, v, result, 'SIGNATURE_THRESHOLD');
});

test('approver keys sign no TUF metadata: targets signed by both approvers instead of the rollout key are refused', async () => {
  const bench = await shared;
  const signers = await signingKeys(bench, 'alice', 'bob');
  const image = await forgeImage(bench, { signers, version: '9.0.0' });
  const { v, result } = await offerImage(bench, image, signers);
  assert.match(result.error?.message ?? '', /targets was signed by 0\/1 keys/);
  await assertRefusedByAgent(bench, v, result, 'TUF_METADATA_INCONSISTENT');
});

test('wrong software: an image for another model, listed as a movehub release with every key, is refused', async () => {
  const bench = await shared;
  const signers = await signingKeys(bench, 'alice', 'bob');
  const image = await forgeImage(bench, { signers, version: '9.0.0', model: 'cityhub' });
  const { v, result } = await offerImage(bench, image);
  await assertRefusedByAgent(bench, v, result, 'MODEL_MISMATCH');
});

test('a payload that decompresses past its signed size, signed with every key, is stopped by the bootloader', async () => {
  const bench = await shared;
  const signers = await signingKeys(bench, 'alice', 'bob');
  // 64 MiB of zeros behind a manifest that promises the 7.28.0 firmware's size and digest.
  const image = await forgeImage(bench, { signers, version: '9.0.0', payload: new Uint8Array(64 << 20) });
  assert.ok(image.length < 64 * 1024, `the bomb is ${image.length} bytes`);
  const { v, result } = await offerImage(bench, image);
  await assertRejectedAtBoot(bench, v, result, 'PLAINTEXT_SIZE_MISMATCH');
});

test('a refused target is fetched once: later polls, also under newer metadata naming it unchanged, skip it; the corrected release republished under its name installs', async () => {
  const bench = await shared;
  const signers = await signingKeys(bench, 'alice', 'bob');
  const good = await forgeImage(bench, { signers, version: '9.0.0' });
  // One payload byte flipped after the approvers signed: the targets role lists these very bytes.
  const bad = Uint8Array.from(good);
  bad[bad.length - 100] = (bad[bad.length - 100] as number) ^ 0x01;
  const name = 'movehub/movehub-9.0.0.sihl';
  const offer = async (bytes: Uint8Array, ahead: number) =>
    serveFiles(
      // Listed alone, so that the device has nothing else newer to turn to.
      await forgeRepository(bench, {
        add: [{ name, bytes, custom: customFor('9.0.0', bytes) }],
        entries: [],
        ahead,
      }),
    );
  const fetched = () => bench.mirror.log.filter((e) => e.path.endsWith('.movehub-9.0.0.sihl')).length;
  bench.mirror.rules = await offer(bad, 1);
  const v = await victim(bench);
  await assertRefusedByAgent(bench, v, await v.agent.poll(), 'PAYLOAD_DIGEST_MISMATCH');
  const once = fetched();
  assert.ok(once > 0);

  assert.equal((await v.agent.poll()).outcome, 'unchanged', 'the same timestamp: a 304');
  for (const ahead of [2, 3]) {
    // Newer targets, snapshot and timestamp (a rollout step, a timestamp refresh) naming the same bytes.
    bench.mirror.rules = await offer(bad, ahead);
    const again = await v.agent.poll();
    assert.deepEqual([again.outcome, again.target], ['refused', name], JSON.stringify(again));
  }
  assert.equal(fetched(), once, 'no byte of the refused image is fetched again');
  const reports = (await bench.reports(v.firstSeq)).map((r) => [r.outcome, r.reason, r.target]);
  assert.deepEqual(reports, [['error', 'PAYLOAD_DIGEST_MISMATCH', name]], 'the refusal is reported once');

  // The release republished with its bytes mended: another identity, so it is fetched and installed.
  bench.mirror.rules = await offer(good, 4);
  const mended = await v.agent.poll();
  assert.equal(mended.outcome, 'staged', JSON.stringify(mended));
  const boot = await v.sim.boot();
  assert.deepEqual([boot.installed, boot.running.version], [true, '9.0.0']);
});

test("an envelope replayed from an older release (the device's own 7.28.0 slot) is refused before staging", async () => {
  const bench = await shared;
  // The mirror knows the device's public key: it finds the device's 7.28.0 envelope, readdresses it to the
  // device's 7.29.0 recipient id and answers every bucket of the 7.29.0 tables with it.
  const box = (
    await SimulatedDevice.load((bench.fleet.devices[0] as { dir: string }).dir)
  ).secureElement.identity().box;
  const old = await envelopeInStore(bench.fleet.store, 'movehub/movehub-7.28.0.sihl', box);
  assert.ok(old, 'the device had an envelope for 7.28.0');
  const entry = targetEntries((await readPublished(bench.fleet.store)).targets).find(
    (e) => e.name === 'movehub/movehub-7.29.0.sihl',
  );
  const salt = parseTargetCustom(entry)?.salt as string;
  const replayed = old.slice();
  replayed.set(recipientIdFor(fromHex(salt), box), RECIPIENT_OFFSET);
  const bucket = Buffer.concat(Array.from({ length: BUCKET_SLOTS }, () => replayed));
  bench.mirror.rules = [
    {
      match: /releases\/movehub-7\.29\.0\/envelopes\/0\.bin$/,
      handle({ req, res }) {
        const start = Number(/bytes=(\d+)-/.exec(String(req.headers.range))?.[1] ?? 0);
        res
          .writeHead(206, {
            'content-length': bucket.length,
            'content-range': `bytes ${start}-${start + bucket.length - 1}/${1_024 * ENVELOPE_BYTES}`,
          })
          .end(bucket);
      },
    },
  ];
  const v = await victim(bench);
  const result = await v.agent.poll();
  await assertRefusedByAgent(bench, v, result, 'ENVELOPE_WRONG_IMAGE');
});

test('a mirror with a certificate other than the pinned one gets no request (NETWORK_ERROR)', async () => {
  const bench = await shared;
  const { makeServerCertificate } = await import('../../src/core/crypto/certificate.ts');
  const { createServer } = await import('node:https');
  const other = await makeServerCertificate({ days: 1 });
  let requests = 0;
  const impostor = createServer(other, (_req, res) => {
    requests++;
    res.end();
  });
  await new Promise<void>((ready) => impostor.listen(0, '127.0.0.1', ready));
  const port = (impostor.address() as { port: number }).port;
  const v = await victim(bench, { server: `https://127.0.0.1:${port}/` });
  const result = await v.agent.poll();
  impostor.closeAllConnections();
  impostor.close();
  assert.equal(requests, 0);
  assert.equal(result.outcome, 'error');
  assert.equal(result.error?.code, 'NETWORK_ERROR');
  assert.match(result.error?.message ?? '', /certificate|self.signed/i);
  assert.equal(v.agent.state.lastError, 'NETWORK_ERROR');
  assert.equal(v.sim.bootState()?.phase, 'idle');
  // The report waits in the outbox for the real server; the impostor never saw it.
  assert.equal(v.agent.state.outbox.length, 1);
});

test('eavesdropping: what crosses the channel holds no 32-byte run of the firmware, and the envelope is sealed', async () => {
  const bench = await shared;
  bench.mirror.rules = [];
  const { fleet } = bench;
  for (let at = 0; at + 32 <= fleet.firmware.length; at += 4093) {
    assert.equal(Buffer.from(fleet.image).indexOf(fleet.firmware.subarray(at, at + 32)), -1, `run at ${at}`);
  }
  // The published image is encrypted: its manifest names secretstream.
  const { readImage, bufferSource } = await import('../../src/core/image/index.ts');
  const image = await readImage(bufferSource(fleet.image));
  assert.equal(image.manifest.encryption.algorithm, 'secretstream');
});

test('indefinite freeze: a mirror that answers every poll with 304 hides an expired timestamp', async () => {
  const bench = await shared;
  // A timestamp that expires 2 s from now, served once; then only 304s.
  const forged = await forgeRepository(bench, {
    now: () => new Date(Date.now() - 86_400_000 + 2000),
  });
  bench.mirror.rules = [
    serveBytes(/\/timestamp\.json$/, forged.get(TIMESTAMP_PATH) as Uint8Array),
    ...serveFiles(forged),
    status(/\/envelopes\//, 404),
  ];
  const v = await victim(bench);
  assert.equal((await v.agent.poll()).outcome, 'not-eligible');
  await new Promise((r) => setTimeout(r, 2500));
  bench.mirror.rules = [{ match: /\/timestamp\.json$/, handle: ({ res }) => void res.writeHead(304).end() }];
  const result = await v.agent.poll();
  bench.mirror.rules = [];
  assert.equal(result.outcome, 'error', `the poll says ${result.outcome}: the freeze goes unnoticed`);
  assert.equal(result.error?.code, 'TUF_METADATA_EXPIRED');
});
