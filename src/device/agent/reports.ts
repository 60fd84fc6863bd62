// Delivering signed status reports (docs/SERVER.md): POST /v1/reports, application/octet-stream. 204:
// accepted. 403 (or any other 4xx but 429): refused for good, dropped. 429, 5xx or no answer: kept in
// the outbox and sent again before the next report.
import { isSihlError } from '../../core/errors.ts';
import type { Transport } from './transport.ts';

export const REPORTS_PATH = '/v1/reports';

export type Delivery = 'accepted' | 'refused' | 'later';

export async function deliverReport(client: Transport, report: Uint8Array): Promise<Delivery> {
  try {
    const { status } = await client.post(REPORTS_PATH, report, 'application/octet-stream');
    if (status >= 200 && status < 300) return 'accepted';
    if (status === 429 || status >= 500) return 'later';
    return 'refused';
  } catch (error) {
    if (isSihlError(error) && error.family !== 'internal') return 'later';
    throw error;
  }
}

/** Sends the outbox oldest first, stopping at the first that must wait; returns what is left. */
export async function flushOutbox(
  deliver: (report: Uint8Array) => Promise<Delivery>,
  outbox: readonly string[],
): Promise<{ left: string[]; accepted: number; refused: number }> {
  const left = [...outbox];
  let accepted = 0;
  let refused = 0;
  while (left.length > 0) {
    const delivery = await deliver(Buffer.from(left[0] as string, 'base64'));
    if (delivery === 'later') break;
    if (delivery === 'accepted') accepted++;
    else refused++;
    left.shift();
  }
  return { left, accepted, refused };
}
