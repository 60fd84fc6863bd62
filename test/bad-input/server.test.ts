// Bad input to `sihl serve` (src/server) over raw TLS, one row per request: each gets a 4xx (or,
// for a client too slow to finish, a closed connection), never a file from outside the store, and every
// file of the workspace (store, keys, registry) is as it was.
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { Workspace } from '../../src/publisher/workspace.ts';
import { makeFleet } from '../device/agent/support.ts';
import { serveWorkspace } from '../support/server.ts';
import { changes, fileHashes } from './support.ts';

const setup = (async () => {
  const fleet = await makeFleet();
  const workspace = await Workspace.open(join(fleet.cwd, 'acme'));
  const server = await serveWorkspace(workspace, {
    limits: { headersTimeoutMs: 400, requestTimeoutMs: 800 },
  });
  const { cert } = server;
  /** Writes `parts` (pausing `gapMs` between them) and returns what came back before the close. */
  const raw = (parts: (string | Uint8Array)[], gapMs = 0, waitMs = 3000) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca: cert });
      const got: Buffer[] = [];
      const done = () => {
        clearTimeout(timer);
        resolve(Buffer.concat(got).toString('latin1'));
      };
      const timer = setTimeout(() => {
        socket.destroy();
        done();
      }, waitMs);
      socket.on('secureConnect', async () => {
        for (const part of parts) {
          if (socket.destroyed) break;
          socket.write(part);
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
      });
      socket.on('data', (d: Buffer) => got.push(d));
      socket.on('close', done);
      socket.on('error', (error) => (got.length > 0 ? done() : reject(error)));
    });
  return { fleet, raw };
})();

const get = (path: string, extra = '') => [
  `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`,
];
const post = (body: string | Uint8Array, type = 'application/octet-stream') => [
  `POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  body,
];

interface Row {
  readonly name: string;
  readonly parts: (string | Uint8Array)[];
  readonly gapMs?: number;
  /** The status line expected; '' for a connection closed without an answer. */
  readonly status: RegExp;
}

/** A status line with one of `codes`. */
const answers = (...codes: number[]) => new RegExp(`^HTTP\\/1\\.1 (${codes.join('|')}) `);
/** A GET of `path`, outside the store or not a path at all: answered 400 or 404, never with a file. */
const outside = (name: string, path: string): Row => ({ name, parts: get(path), status: answers(400, 404) });

export const ROWS: Row[] = [
  outside('a path with dot segments out of the store', '/../sihl.json'),
  outside('percent-encoded dot segments', '/%2e%2e/registry.db'),
  outside('encoded slashes inside a segment', '/metadata/..%2f..%2fsihl.json'),
  outside('backslashes to a private key', '/..\\keys\\alice.key'),
  outside('a NUL byte in the path', '/metadata/timestamp.json%00.png'),
  {
    name: 'a path of 100,000 characters',
    parts: get(`/${'a/'.repeat(50_000)}`),
    status: answers(400, 404, 414, 431),
  },
  {
    name: 'a header of 64 KiB',
    parts: get('/metadata/timestamp.json', `X-Big: ${'b'.repeat(64 * 1024)}\r\n`),
    status: answers(431),
  },
  {
    name: 'a PUT over the timestamp',
    parts: [
      'PUT /metadata/timestamp.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    ],
    status: answers(405),
  },
  {
    name: 'a DELETE of the timestamp',
    parts: ['DELETE /metadata/timestamp.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    status: answers(405),
  },
  { name: 'a report body of 1 MiB', parts: post(new Uint8Array(1024 * 1024)), status: answers(413) },
  { name: 'a report that is not a signed report', parts: post('hello, server'), status: answers(400) },
  {
    name: 'a report sent as JSON',
    parts: post('{"outcome":"installed"}', 'application/json'),
    status: answers(415),
  },
  {
    name: 'a range past the end of the image',
    parts: get('/metadata/1.root.json', 'Range: bytes=99999999-\r\n'),
    status: answers(416),
  },
  {
    name: 'bytes that are not HTTP',
    parts: ['\x16\x03\x01 not http at all\r\n\r\n'],
    status: answers(400),
  },
  {
    name: 'a slow client that sends its headers a byte at a time',
    parts: [...'GET /metadata/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n'],
    gapMs: 100,
    status: /^(HTTP\/1\.1 408 |$)/,
  },
  {
    name: 'a slow client that never finishes its body',
    parts: [
      'POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 500\r\n\r\n',
      'partial',
    ],
    status: /^(HTTP\/1\.1 408 |$)/,
  },
];

for (const row of ROWS) {
  test(`bad request: ${row.name}`, async () => {
    const { fleet, raw } = await setup;
    const before = await fileHashes(fleet.cwd);
    const started = Date.now();
    const answer = await raw(row.parts, row.gapMs);
    assert.match(answer.split('\r\n')[0] ?? '', row.status, answer.slice(0, 200));
    assert.ok(
      Date.now() - started < 2900,
      `the server let the client hold on for ${Date.now() - started} ms`,
    );
    assert.doesNotMatch(answer, /"roles"|BEGIN|sihl-key|SQLite format/, 'nothing from outside the store');
    assert.deepEqual(changes(before, await fileHashes(fleet.cwd)), [], 'every file is as it was');
  });
}
