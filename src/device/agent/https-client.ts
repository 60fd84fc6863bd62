// HTTPS to the one server a device trusts: its certificate is pinned as the only CA and the host name is
// checked against it. Every request is bounded: connect time, silence, total time and body size.
// Devices only dial out; nothing here listens.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { SihlError } from '../../core/errors.ts';
import { AGENT_LIMITS } from './limits.ts';

export interface ClientOptions {
  /**
   * The server's base URL (https); paths are resolved against it, so it may end in a folder, e.g.
   * https://ACCOUNT.blob.core.windows.net/CONTAINER/. Its query (a read-only SAS) goes with every request.
   */
  readonly server: string;
  /** The server certificate in PEM: the only one trusted. */
  readonly certificate: string;
  readonly connectMs?: number;
  readonly idleMs?: number;
  readonly requestMs?: number;
  /** The local address to connect from (a simulated fleet gives each device its own loopback address). */
  readonly localAddress?: string;
}

export interface GetRequest {
  /** Relative to the server URL. */
  readonly path: string;
  /** Sends If-None-Match: the server answers 304 when this is still current. */
  readonly etag?: string;
  /** Inclusive byte range. */
  readonly range?: { readonly start: number; readonly end: number };
  /** The most body bytes accepted; more fails the request (LIMIT_EXCEEDED). */
  readonly limit: number;
  /** Sees status and headers before any body byte; a throw fails the request. */
  readonly onHeaders?: (status: number, headers: IncomingHttpHeaders) => void;
  /** Receives a 200 or 206 body as it arrives instead of collecting it; a throw fails the request. */
  readonly onData?: (chunk: Uint8Array) => void;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Empty when the body went to onData. */
  readonly body: Uint8Array;
  readonly received: number;
}

/** What went over the wire since the client was made (body bytes only). */
export interface ClientStats {
  requests: number;
  bytes: number;
}

/** OpenSSL's and Node's codes for a server certificate that the pin does not vouch for. */
const PIN_REFUSALS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function networkError(error: unknown): SihlError {
  if (error instanceof SihlError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  // Node's hint about system CAs is wrong here: the device trusts its pinned certificate and nothing else.
  const message = ((error as Error | undefined)?.message ?? String(error)).replace(
    /; if the root CA .*$/s,
    '',
  );
  if (PIN_REFUSALS.has(code)) {
    return new SihlError(
      'NETWORK_ERROR',
      `${code}: the server's certificate is not the pinned one (${message}); give the device the ` +
        'certificate this server presents, or point it at the server that certificate belongs to',
      { cause: error },
    );
  }
  return new SihlError('NETWORK_ERROR', code ? `${code}: ${message}` : message, { cause: error });
}

/** One request in flight, as the response handler sees it. */
interface Exchange {
  readonly url: URL;
  readonly limit: number;
  readonly hooks: Pick<GetRequest, 'onHeaders' | 'onData'>;
  fail(error: unknown): void;
  settled(): boolean;
  done(response: HttpResponse): void;
}

export class PinnedClient {
  readonly base: URL;
  readonly stats: ClientStats = { requests: 0, bytes: 0 };
  readonly #agent: Agent;
  /** The base URL's query, e.g. a SAS: sent with every request, kept out of URLs handed out and of errors. */
  readonly #query: string;
  readonly #connectMs: number;
  readonly #idleMs: number;
  readonly #requestMs: number;

  constructor(options: ClientOptions) {
    const base = new URL(options.server);
    if (base.protocol !== 'https:') throw new SihlError('USAGE', `the server URL must be https, not ${base}`);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.#query = base.search.replace(/^\?/, '');
    base.search = '';
    base.hash = '';
    this.base = base;
    this.#connectMs = options.connectMs ?? AGENT_LIMITS.connectMs;
    this.#idleMs = options.idleMs ?? AGENT_LIMITS.idleMs;
    this.#requestMs = options.requestMs ?? AGENT_LIMITS.requestMs;
    // keepAlive: a poll that finds something new makes several requests in a row over one connection.
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ca: options.certificate,
      minVersion: 'TLSv1.2',
    });
  }

  url(path: string): URL {
    const url = new URL(path, this.base);
    if (url.origin !== this.base.origin) throw new SihlError('USAGE', `${path} is not on the pinned server`);
    return url;
  }

  get(req: GetRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (req.etag) headers['if-none-match'] = req.etag;
    if (req.range) headers.range = `bytes=${req.range.start}-${req.range.end}`;
    return this.#send('GET', this.url(req.path), headers, undefined, req.limit, req);
  }

  post(
    path: string,
    body: Uint8Array,
    contentType: string,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<HttpResponse> {
    const headers = { ...extra, 'content-type': contentType, 'content-length': String(body.length) };
    return this.#send('POST', this.url(path), headers, body, AGENT_LIMITS.metadataBytes);
  }

  /** Closes idle connections; the client stays usable. */
  close(): void {
    this.#agent.destroy();
  }

  #send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    limit: number,
    hooks: Pick<GetRequest, 'onHeaders' | 'onData'> = {},
  ): Promise<HttpResponse> {
    this.stats.requests++;
    const wire = new URL(url);
    if (this.#query !== '') wire.search = wire.search === '' ? this.#query : `${wire.search}&${this.#query}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = () => {
        settled = true;
        for (const t of timers) clearTimeout(t);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        finish();
        req.destroy();
        reject(networkError(error));
      };
      const timeout = (what: string, ms: number) =>
        timers.push(
          setTimeout(() => fail(new SihlError('NETWORK_TIMEOUT', `${what} took over ${ms} ms`)), ms),
        );
      const exchange: Exchange = {
        url,
        limit,
        hooks,
        fail,
        settled: () => settled,
        done: (response) => {
          if (settled) return;
          finish();
          resolve(response);
        },
      };
      const req = request(wire, { method, headers, agent: this.#agent, timeout: this.#idleMs }, (res) =>
        this.#receive(res, exchange),
      );
      req.on('timeout', () => fail(new SihlError('NETWORK_TIMEOUT', `no data for ${this.#idleMs} ms`)));
      req.on('error', fail);
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        timeout('connecting', this.#connectMs);
        const connected = timers.length - 1;
        socket.once('secureConnect', () => clearTimeout(timers[connected]));
      });
      timeout(`${method} ${url.pathname}`, this.#requestMs);
      req.end(body);
    });
  }

  /** The response of one exchange: its announced and actual length bounded, hooks called, body kept. */
  #receive(res: IncomingMessage, x: Exchange): void {
    const { url, limit, hooks, fail } = x;
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > limit) {
      fail(
        new SihlError(
          'LIMIT_EXCEEDED',
          `${url.pathname}: ${declared} bytes announced, at most ${limit} taken`,
        ),
      );
      return;
    }
    const status = res.statusCode ?? 0;
    try {
      hooks.onHeaders?.(status, res.headers);
    } catch (error) {
      fail(error);
      return;
    }
    const onData = status === 200 || status === 206 ? hooks.onData : undefined;
    const chunks: Uint8Array[] = [];
    let received = 0;
    res.on('data', (chunk: Buffer) => {
      if (x.settled()) return;
      received += chunk.length;
      this.stats.bytes += chunk.length;
      if (received > limit) {
        fail(new SihlError('LIMIT_EXCEEDED', `${url.pathname}: more than ${limit} bytes`));
        return;
      }
      if (!onData) {
        chunks.push(chunk);
        return;
      }
      try {
        onData(chunk);
      } catch (error) {
        fail(error);
      }
    });
    res.on('end', () => x.done({ status, headers: res.headers, body: Buffer.concat(chunks), received }));
    res.on('close', () => {
      if (!res.complete) fail(new SihlError('NETWORK_ERROR', `${url.pathname}: connection lost mid-body`));
    });
    res.on('error', fail);
  }
}
