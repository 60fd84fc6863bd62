// The agent's transport port, like tuf-js's Fetcher: two methods (GET with a byte limit enforced while
// the body streams, POST for reports), plus where a path lives and what went over the wire. The pinned
// HTTPS client (https-client.ts) is the real one; MemoryTransport (memory-transport.ts) is its twin for
// tests that need no TLS server.
import type { GetRequest, HttpResponse } from './https-client.ts';

export type { GetRequest, HttpResponse } from './https-client.ts';

/** What went over the wire since the transport was made (body bytes only). */
export interface TransportStats {
  requests: number;
  bytes: number;
}

export interface Transport {
  get(request: GetRequest): Promise<HttpResponse>;
  post(
    path: string,
    body: Uint8Array,
    contentType: string,
    headers?: Readonly<Record<string, string>>,
  ): Promise<HttpResponse>;
  /** The absolute URL of a path on the server (tuf-js wants URLs). */
  url(path: string): URL;
  readonly stats: TransportStats;
  /** Ends idle connections; the transport stays usable. */
  close(): void;
}
