// The transport's in-memory twin (transport.ts): a store as a map of paths to bytes, answered with the
// same statuses and headers as sihl's server (ETags and 304, byte ranges and 206/416, 404), and the
// POSTed bodies kept for the test to read. Limits and hooks behave as on the wire.
import type { IncomingHttpHeaders } from 'node:http';
import { sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import type { GetRequest, HttpResponse, Transport, TransportStats } from './transport.ts';

export class MemoryTransport implements Transport {
  readonly base = new URL('https://memory.invalid/');
  readonly stats: TransportStats = { requests: 0, bytes: 0 };
  /** Files served, by path relative to the store. */
  readonly files = new Map<string, Uint8Array>();
  /** Every POST, in order. */
  readonly posted: { path: string; body: Uint8Array; contentType: string }[] = [];
  /** The status POSTs get (204: accepted). */
  postStatus = 204;

  url(path: string): URL {
    return new URL(path, this.base);
  }

  async get(request: GetRequest): Promise<HttpResponse> {
    this.stats.requests++;
    const path = decodeURIComponent(this.url(request.path).pathname.slice(1));
    const file = this.files.get(path);
    if (file === undefined) return this.#answer(request, 404, {}, new Uint8Array(0));
    const etag = `"${toHex(sha256(file)).slice(0, 32)}"`;
    if (request.etag === etag) return this.#answer(request, 304, { etag }, new Uint8Array(0));
    const { range } = request;
    if (range === undefined) return this.#answer(request, 200, { etag }, file);
    if (range.start >= file.length)
      return this.#answer(request, 416, { 'content-range': `bytes */${file.length}` }, new Uint8Array(0));
    const end = Math.min(range.end, file.length - 1);
    const headers = { etag, 'content-range': `bytes ${range.start}-${end}/${file.length}` };
    return this.#answer(request, 206, headers, file.subarray(range.start, end + 1));
  }

  async post(path: string, body: Uint8Array, contentType: string): Promise<HttpResponse> {
    this.stats.requests++;
    this.posted.push({ path, body: body.slice(), contentType });
    return { status: this.postStatus, headers: {}, body: new Uint8Array(0), received: 0 };
  }

  close(): void {}

  /** The response as the pinned client gives it: hooks first, the limit enforced, the body or onData. */
  #answer(request: GetRequest, status: number, headers: IncomingHttpHeaders, body: Uint8Array): HttpResponse {
    request.onHeaders?.(status, headers);
    const hasBody = status === 200 || status === 206;
    if (hasBody && body.length > request.limit)
      throw new SihlError('LIMIT_EXCEEDED', `GET ${request.path}: over ${request.limit} bytes`);
    const sent = hasBody ? body.slice() : new Uint8Array(0);
    this.stats.bytes += sent.length;
    if (hasBody && request.onData) {
      request.onData(sent);
      return { status, headers, body: new Uint8Array(0), received: sent.length };
    }
    return { status, headers, body: sent, received: sent.length };
  }
}
