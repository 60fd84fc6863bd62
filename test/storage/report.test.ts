// The signed status report format: what a device's secure element signs, and the strict decoder the
// server and `fleet status` use on bytes from the network and from the log store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter } from '../../src/core/format/bytes.ts';
import {
  decodeSignedReport,
  encodeReport,
  encodeSignedReport,
  REPORT_MAX_BYTES,
  reportMessage,
  type StatusReport,
  verifySignedReport,
} from '../../src/core/format/report.ts';
import { makeSignedReport } from '../../src/device/report.ts';
import { secureElement } from '../server/server-support.ts';

const element = secureElement();
const key = element.identity().sign;
const fields = {
  seq: 7,
  time: 1_800_000_000,
  model: 'TechnicHub',
  running: '7.27.0',
  outcome: 'rejected',
  reason: 'TUF_METADATA_EXPIRED',
  attempts: 2,
  target: 'TechnicHub/TechnicHub-7.28.0.sihl',
} as const;

/** A report whose body is `text` exactly, correctly framed and signed by the device. */
function signedBody(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  return encodeSignedReport(body, element.sign(reportMessage(body)));
}

test('a report made in the secure element verifies with the device key and names the device', () => {
  const bytes = makeSignedReport(element, fields);
  const report = verifySignedReport(bytes, key);
  assert.deepEqual({ ...report }, { device: report.device, ...fields });
  assert.match(report.device, /^[0-9a-f]{64}$/);
  const { body } = decodeSignedReport(bytes);
  assert.equal(
    new TextDecoder().decode(body),
    `{"device":"${report.device}","seq":7,"time":1800000000,"model":"TechnicHub","running":"7.27.0",` +
      '"outcome":"rejected","reason":"TUF_METADATA_EXPIRED","attempts":2,' +
      '"target":"TechnicHub/TechnicHub-7.28.0.sihl"}',
  );
});

test('another key, or a signature over the body without the report context, is refused', () => {
  const bytes = makeSignedReport(element, fields);
  assert.throws(() => verifySignedReport(bytes, secureElement().identity().sign), {
    code: 'SIGNATURE_INVALID',
  });
  const { body } = decodeSignedReport(bytes);
  const bare = encodeSignedReport(body, element.sign(body));
  assert.throws(() => verifySignedReport(bare, key), { code: 'SIGNATURE_INVALID' });
});

test('one encoding per report: spaces, reordered, duplicate, unknown or escaped fields are malformed', () => {
  const good = new TextDecoder().decode(decodeSignedReport(makeSignedReport(element, fields)).body);
  const device = JSON.parse(good).device as string;
  const variants = [
    good.replace(',', ', '),
    good.replace(`{"device":"${device}","seq":7,`, `{"seq":7,"device":"${device}",`),
    good.replace('"seq":7', '"seq":7,"seq":8'),
    good.replace('"seq":7', '"seq":7.0'),
    good.replace('"seq":7', '"seq":7,"extra":1'),
    good.replace('"model":"TechnicHub"', '"model":"Technic\\u0048ub"'),
    `${good}\n`,
    good.replace('"outcome":"rejected"', '"outcome":"exploded"'),
    good.replace('"target":"TechnicHub/', '"target":"../'),
  ];
  for (const text of variants) {
    assert.throws(() => decodeSignedReport(signedBody(text)), { code: 'REPORT_MALFORMED' }, text);
  }
  assert.throws(() => decodeSignedReport(signedBody('[]')), { code: 'REPORT_MALFORMED' });
  assert.throws(() => decodeSignedReport(signedBody('{"device":')), { code: 'REPORT_MALFORMED' });
});

test('framing is strict: magic, version, length, trailing bytes and the 4 KiB bound', () => {
  const bytes = makeSignedReport(element, fields);
  const withTrailing = new Uint8Array(bytes.length + 1);
  withTrailing.set(bytes);
  const cases: Uint8Array[] = [
    withTrailing,
    bytes.subarray(0, bytes.length - 1),
    Uint8Array.of(...bytes.subarray(0, 4).map((b) => b ^ 1), ...bytes.subarray(4)),
    Uint8Array.of(...bytes.subarray(0, 4), 2, 0, ...bytes.subarray(6)),
    new ByteWriter().bytes(bytes.subarray(0, 6)).u16(0xffff).finish(),
    new Uint8Array(REPORT_MAX_BYTES + 1),
    new Uint8Array(0),
  ];
  for (const c of cases) assert.throws(() => decodeSignedReport(c), { code: 'REPORT_MALFORMED' });
});

test('encodeReport lists every bad field at once', () => {
  const bad = { ...fields, device: 'nope', seq: -1, model: '', attempts: 1.5 } as unknown as StatusReport;
  assert.throws(
    () => encodeReport(bad),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'REPORT_MALFORMED');
      for (const field of ['device', 'seq', 'model', 'attempts'])
        assert.match(error.message, new RegExp(field));
      return true;
    },
  );
});
