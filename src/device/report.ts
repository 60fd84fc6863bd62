// The device's side of status reports: the application fills in what happened, the secure element signs
// it with the device's Ed25519 key, which never leaves it (docs/SERVER.md §Report format).
import { keyIdOf } from '../core/crypto/sign.ts';
import { toHex } from '../core/format/bytes.ts';
import { encodeReport, encodeSignedReport, reportMessage, type StatusReport } from '../core/format/report.ts';
import type { SecureElement } from './secure-element/secure-element.ts';

export function makeSignedReport(
  secureElement: SecureElement,
  fields: Omit<StatusReport, 'device'>,
): Uint8Array {
  const device = toHex(keyIdOf(secureElement.identity().sign));
  const body = encodeReport({ ...fields, device });
  return encodeSignedReport(body, secureElement.sign(reportMessage(body)));
}
