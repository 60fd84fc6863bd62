// Devices' signed status reports through POST /v1/reports over real HTTPS: only a registered, unrevoked
// device's own signature gets a report stored; replays, floods, oversized and slow requests are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeReport,
  encodeSignedReport,
  reportMessage,
  type StatusReport,
} from '../../src/core/format/report.ts';
import { makeSignedReport } from '../../src/device/report.ts';
import type { SecureElement } from '../../src/device/secure-element/secure-element.ts';
import { startServer } from '../../src/server/server.ts';
import type { LogStore } from '../../src/storage/log-store.ts';
import { httpsRequest } from '../support/server.ts';
import { type Fixture, provision, secureElement, startFixture } from './server-support.ts';

const REPORTS = '/v1/reports';

function report(element: SecureElement, seq: number, extra: Partial<StatusReport> = {}): Uint8Array {
  return makeSignedReport(element, {
    seq,
    time: 1_800_000_000 + seq,
    model: 'movehub',
    running: '7.28.0',
    outcome: 'installed',
    attempts: 1,
    target: 'movehub/movehub-7.28.0.sihl',
    ...extra,
  });
}

async function stored(logStore: LogStore, deviceId: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const entry of logStore.query({ deviceId })) out.push(entry.report);
  return out;
}

const fixture = await startFixture();

test('a registered device’s signed report is accepted with 204 and stored as sent', async () => {
  const element = secureElement();
  const id = provision(fixture.registry, element);
  const bytes = report(element, 1);
  const r = await fixture.post(REPORTS, bytes);
  assert.equal(r.status, 204);
  assert.equal(r.body.length, 0);
  assert.deepEqual(await stored(fixture.logStore, id), [bytes]);
});

test('a report with one flipped signature byte is refused with 403 and not stored', async () => {
  const element = secureElement();
  const id = provision(fixture.registry, element);
  const bytes = report(element, 1);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0x01;
  assert.equal((await fixture.post(REPORTS, bytes)).status, 403);
  assert.deepEqual(await stored(fixture.logStore, id), []);
});

test('a device cannot file a report under another registered device’s id', async () => {
  const victim = secureElement();
  const victimId = provision(fixture.registry, victim);
  const attacker = secureElement();
  provision(fixture.registry, attacker);
  // The attacker signs a body naming the victim: the signature is valid, but not by the victim's key.
  const body = encodeReport({
    device: victimId,
    seq: 1,
    time: 0,
    model: 'movehub',
    running: '1.0.0',
    outcome: 'error',
    reason: 'TUF_METADATA_EXPIRED',
  });
  const forged = encodeSignedReport(body, attacker.sign(reportMessage(body)));
  assert.equal((await fixture.post(REPORTS, forged)).status, 403);
  assert.deepEqual(await stored(fixture.logStore, victimId), []);
});

test('reports of a revoked device, and of an unknown one, are refused with 403 and not stored', async () => {
  const revoked = secureElement();
  const id = provision(fixture.registry, revoked);
  fixture.registry.revoke(id, 1_800_000_100);
  assert.equal((await fixture.post(REPORTS, report(revoked, 1))).status, 403);
  assert.deepEqual(await stored(fixture.logStore, id), []);

  const stranger = secureElement();
  assert.equal((await fixture.post(REPORTS, report(stranger, 1))).status, 403);
});

test('malformed bodies get 400, other content types 415, other methods 405', async () => {
  const element = secureElement();
  provision(fixture.registry, element);
  const good = report(element, 1);
  const trailing = new Uint8Array(good.length + 1);
  trailing.set(good);
  for (const bytes of [
    new Uint8Array(0),
    new TextEncoder().encode('{"device":"x"}'),
    good.subarray(0, 40),
    trailing,
  ]) {
    assert.equal((await fixture.post(REPORTS, bytes)).status, 400);
  }
  assert.equal((await fixture.post(REPORTS, good, { 'content-type': 'application/json' })).status, 415);
  assert.equal((await fixture.get(REPORTS)).status, 405);
});

test('a replayed or older report is refused with 409, also after the server restarts', async () => {
  const element = secureElement();
  const id = provision(fixture.registry, element);
  const first = report(element, 5);
  assert.equal((await fixture.post(REPORTS, first)).status, 204);
  assert.equal((await fixture.post(REPORTS, first)).status, 409, 'the same report again');
  assert.equal((await fixture.post(REPORTS, report(element, 4))).status, 409, 'an older one');
  assert.equal((await fixture.post(REPORTS, report(element, 6))).status, 204);

  // A second server over the same log store learns the last sequence number from the stored entries.
  const second = await startServer({
    storeDir: fixture.store,
    devices: fixture.registry,
    logStore: fixture.logStore,
    key: fixture.key,
    cert: fixture.cert,
  });
  try {
    const again = await postTo(fixture, second.port, report(element, 6));
    assert.equal(again, 409);
  } finally {
    await second.close();
  }
  assert.equal((await stored(fixture.logStore, id)).length, 2);
});

async function postTo(f: Fixture, port: number, bytes: Uint8Array): Promise<number> {
  const headers = { 'content-type': 'application/octet-stream' };
  const options = {
    host: '127.0.0.1',
    port,
    path: REPORTS,
    method: 'POST',
    headers,
    ca: f.cert,
    agent: false,
  };
  return (await httpsRequest(undefined, options, bytes)).status;
}

test('a body over 4 KiB is refused with 413 before it is read', async () => {
  // Only the headers and 1 KiB of a declared 10 MiB are sent: the answer comes anyway.
  const answer = await fixture.raw(
    `POST ${REPORTS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: 10485760\r\n\r\n${'x'.repeat(1024)}`,
  );
  assert.match(answer, /^HTTP\/1\.1 413 /);
  const chunked = await fixture.raw(
    `POST ${REPORTS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n` +
      `Transfer-Encoding: chunked\r\n\r\n1400\r\n${'x'.repeat(0x1400)}\r\n`,
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /, 'no length declared: counted while read');
});

test('a device over its rate gets 429 with Retry-After; other devices are not slowed', async () => {
  const limited = await startFixture({
    limits: { reportsPerDevice: { burst: 2, perMinute: 1 } },
  });
  const busy = secureElement();
  provision(limited.registry, busy);
  const calm = secureElement();
  provision(limited.registry, calm);
  assert.equal((await limited.post(REPORTS, report(busy, 1))).status, 204);
  assert.equal((await limited.post(REPORTS, report(busy, 2))).status, 204);
  const third = await limited.post(REPORTS, report(busy, 3));
  assert.equal(third.status, 429);
  assert.ok(Number(third.headers['retry-after']) >= 1);
  assert.equal((await limited.post(REPORTS, report(calm, 1))).status, 204);
});

test('a device’s signed reports about another model spend its rate too: past it, 429', async () => {
  const limited = await startFixture({
    limits: { reportsPerDevice: { burst: 2, perMinute: 1 } },
  });
  const liar = secureElement();
  provision(limited.registry, liar);
  const foreign = { model: 'technichub', target: 'technichub/technichub-1.0.0.sihl' };
  assert.equal((await limited.post(REPORTS, report(liar, 1, foreign))).status, 403);
  assert.equal((await limited.post(REPORTS, report(liar, 2, foreign))).status, 403);
  const third = await limited.post(REPORTS, report(liar, 3, foreign));
  assert.equal(third.status, 429);
  assert.ok(Number(third.headers['retry-after']) >= 1);
});

test('a client that sends its headers or body too slowly is cut off by the timeouts', async () => {
  const quick = await startFixture({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 300 } });
  const started = Date.now();
  const headers = await quick.raw('GET /metadata/timestamp.json HTTP/1.1\r\nHost: loc', 5000);
  assert.ok(Date.now() - started < 3000, `cut after ${Date.now() - started} ms`);
  assert.doesNotMatch(headers, /200 OK/);
  const body = await quick.raw(
    `POST ${REPORTS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n` +
      'Content-Length: 200\r\n\r\nsome but not all',
    5000,
  );
  assert.ok(Date.now() - started < 6000);
  assert.match(body, /^(HTTP\/1\.1 408 |$)/, 'a 408, or the connection simply closed');
});
