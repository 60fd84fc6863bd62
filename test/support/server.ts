// The one server fixture: sihl's HTTPS server composed as `sihl serve` composes it (src/server/service.ts)
// over a workspace, on a free loopback port, with a certificate made once per test file, stopped after
// the file's tests. Options pass through: a console with passphrases, generous rate limits, short timeouts.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type RequestOptions, request } from 'node:https';
import { after } from 'node:test';
import { makeServerCertificate } from '../../src/core/crypto/certificate.ts';
import type { Workspace } from '../../src/publisher/workspace.ts';
import { type Service, type ServiceOptions, startService } from '../../src/server/service.ts';

// Made when the file loads: node:test ties after() hooks to the test whose async context is current, so
// a certificate first awaited inside one test would tie later servers' clean-up to that test.
const certificate = makeServerCertificate({ days: 2 });

/** One certificate for 127.0.0.1 per test file (made by the code `sihl init` uses); devices pin it. */
export function testCertificate(): Promise<{ key: string; cert: string }> {
  return certificate;
}

/** What an HTTPS request got back, read to the end. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One HTTPS request (to `url`, or where `options` say), `body` sent, the whole answer read. */
export function httpsRequest(
  url: string | URL | undefined,
  options: RequestOptions,
  body?: Uint8Array,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const answered = (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    };
    const req = url === undefined ? request(options, answered) : request(url, options, answered);
    req.on('error', reject);
    req.end(body);
  });
}

/** Report limits that let one address speak for a whole simulated fleet. */
export const GENEROUS = { burst: 100_000, perMinute: 1_000_000 } as const;

export interface Served extends Service {
  /** The PEM certificate to pin. */
  readonly cert: string;
}

/**
 * Serves `workspace` until the test file ends. Without `console: true` it is the bare server (store and
 * report intake); with it, the console too (`passphrases` let it sign halts).
 */
export async function serveWorkspace(
  workspace: Workspace,
  options: Partial<Omit<ServiceOptions, 'workspace' | 'console'>> & { readonly console?: boolean } = {},
): Promise<Served> {
  const { key, cert } = await certificate;
  const { console: withConsole, ...rest } = options;
  const service = await startService({
    workspace,
    key,
    cert,
    port: 0,
    env: {},
    ...rest,
    ...(withConsole ? {} : { console: false as const }),
  });
  after(() => service.close());
  return { ...service, close: () => service.close(), cert };
}
