// Turns a cloud SDK's failure into a SihlError whose message names the problem without echoing the
// request: SDK errors can carry URLs with SAS tokens or signed headers, so they are not kept as causes.
import { SihlError } from '../core/errors.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'REQUEST_SEND_ERROR',
]);

/** `status` is the HTTP status when there was a response; `code` the store's or the socket's error code. */
export function storeError(
  subject: string,
  error: unknown,
  status: number | undefined,
  code: string | undefined,
): SihlError {
  const what = [status, code].filter((part) => part !== undefined && part !== '').join(' ');
  if (error instanceof SihlError) return error.about(subject);
  if (status === 401 || status === 403) {
    return new SihlError(
      'STORE_DENIED',
      `the store refused access (${what}): check the credential and its permissions`,
      {
        subject,
      },
    );
  }
  if (
    code === 'CredentialsProviderError' ||
    /could not load credentials/i.test(String((error as Error)?.message))
  ) {
    return new SihlError('STORE_CREDENTIALS_MISSING', 'no credentials found for the store', { subject });
  }
  if (
    (status !== undefined && (status >= 500 || status === 408 || status === 429)) ||
    NETWORK_CODES.has(code ?? '')
  ) {
    return new SihlError('STORE_UNAVAILABLE', `the store is unavailable (${what}); try again later`, {
      subject,
    });
  }
  if (status === undefined && code === undefined) {
    // Not an SDK error: keep it, it cannot hold a request.
    return new SihlError('IO_ERROR', String((error as Error)?.message ?? error), { subject, cause: error });
  }
  return new SihlError('IO_ERROR', `the store failed the request (${what})`, { subject });
}
