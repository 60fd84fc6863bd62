// The embedded server serving the store over real HTTPS on 127.0.0.1, pinned to its certificate:
// cheap polls, fresh metadata after an atomic replace, byte ranges, and nothing outside the store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/core/fs.ts';
import { startFixture } from './server-support.ts';

const fixture = await startFixture();
const TIMESTAMP = '/metadata/timestamp.json';

test('a poll with the current ETag costs one request answered 304 with no body', async () => {
  const first = await fixture.get(TIMESTAMP);
  assert.equal(first.status, 200);
  assert.equal(first.body.toString(), '{"signed":{"version":1}}');
  assert.equal(first.headers['content-type'], 'application/json');
  assert.equal(first.headers['content-length'], String(first.body.length));
  assert.equal(first.headers['cache-control'], 'no-cache');
  const etag = first.headers.etag as string;
  assert.match(etag, /^"[0-9a-f]{32}"$/, 'a strong ETag');
  const poll = await fixture.get(TIMESTAMP, { 'if-none-match': etag });
  assert.equal(poll.status, 304);
  assert.equal(poll.body.length, 0);
  assert.equal(poll.headers.etag, etag);
  assert.equal((await fixture.get(TIMESTAMP, { 'if-none-match': `"other", W/${etag}` })).status, 304);
  assert.equal((await fixture.get(TIMESTAMP, { 'if-none-match': '"other"' })).status, 200);
});

test('after timestamp.json is atomically replaced, the next poll gets the new content and a new ETag', async () => {
  let etag = (await fixture.get(TIMESTAMP)).headers.etag as string;
  // Same size every time, written back to back: only the inode and the content tell them apart.
  for (let version = 2; version <= 9; version++) {
    const text = `{"signed":{"version":${version}}}`;
    await writeFileAtomic(join(fixture.store, 'metadata', 'timestamp.json'), text, { overwrite: true });
    const poll = await fixture.get(TIMESTAMP, { 'if-none-match': etag });
    assert.equal(poll.status, 200, `version ${version} is not hidden behind a 304`);
    assert.equal(poll.body.toString(), text);
    assert.notEqual(poll.headers.etag, etag);
    etag = poll.headers.etag as string;
    assert.equal((await fixture.get(TIMESTAMP, { 'if-none-match': etag })).status, 304);
  }
});

test('byte ranges: a-b, a-, -n, If-Range, and 416 for a range past the end', async () => {
  const image = randomBytes(200_000);
  const name = `/targets/movehub/${'ab'.repeat(32)}.movehub-7.28.0.sihl`;
  await mkdir(join(fixture.store, 'targets', 'movehub'), { recursive: true });
  await writeFile(join(fixture.store, name), image);
  const whole = await fixture.get(name);
  assert.equal(whole.status, 200);
  assert.deepEqual(whole.body, image);
  assert.equal(whole.headers['content-type'], 'application/octet-stream');
  assert.match(
    whole.headers['cache-control'] as string,
    /immutable/,
    'content-addressed targets never change',
  );
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  const etag = whole.headers.etag as string;

  const cases: [string, number, number][] = [
    ['bytes=100000-100099', 100_000, 100_099],
    ['bytes=199990-', 199_990, 199_999],
    ['bytes=-10', 199_990, 199_999],
    ['bytes=199990-300000', 199_990, 199_999],
  ];
  for (const [range, start, end] of cases) {
    const part = await fixture.get(name, { range });
    assert.equal(part.status, 206, range);
    assert.equal(part.headers['content-range'], `bytes ${start}-${end}/200000`);
    assert.equal(part.headers['content-length'], String(end - start + 1));
    assert.deepEqual(part.body, image.subarray(start, end + 1));
  }
  const small = await fixture.get(TIMESTAMP, { range: 'bytes=2-7' });
  assert.equal(small.status, 206);
  assert.equal(small.body.toString(), 'signed');

  for (const range of ['bytes=200000-', 'bytes=-0']) {
    const past = await fixture.get(name, { range });
    assert.equal(past.status, 416, range);
    assert.equal(past.headers['content-range'], 'bytes */200000');
    assert.equal(past.body.length, 0);
  }
  const resumed = await fixture.get(name, { range: 'bytes=10-19', 'if-range': etag });
  assert.equal(resumed.status, 206, 'resuming the same file');
  const changed = await fixture.get(name, { range: 'bytes=10-19', 'if-range': '"stale"' });
  assert.equal(changed.status, 200, 'the file changed since: the whole of it');
  assert.equal(changed.body.length, 200_000);
  assert.equal((await fixture.get(name, { range: 'bytes=0-1,5-6' })).status, 200, 'several ranges: all');
});

test('HEAD gives the headers of a GET and no body', async () => {
  const head = await fixture.get(TIMESTAMP, {}, 'HEAD');
  const get = await fixture.get(TIMESTAMP);
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], get.headers['content-length']);
  assert.equal(head.headers.etag, get.headers.etag);
});

test('folders are never listed, and only GET and HEAD reach files', async () => {
  for (const path of ['/', '/metadata', '/metadata/', '/metadata//timestamp.json', '/nothing.json']) {
    const r = await fixture.get(path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body.toString(), /timestamp/);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await fixture.get(TIMESTAMP, {}, method);
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
});

test('no request reaches a file outside the store: dot segments, encodings, backslashes, NUL, symlinks', async () => {
  const secret = 'not for devices';
  await writeFile(join(fixture.dir, 'secret.json'), secret);
  await writeFile(join(fixture.dir, 'store.json'), secret); // a sibling whose name starts like the store's
  await symlink(join(fixture.dir, 'secret.json'), join(fixture.store, 'metadata', 'link.json'));
  await symlink(fixture.dir, join(fixture.store, 'up'));
  await writeFile(join(fixture.store, 'metadata', '.timestamp.json.0a1b2c.tmp'), secret);
  const attempts = [
    '/../secret.json',
    '/metadata/../../secret.json',
    '/%2e%2e/secret.json',
    '/%2E%2E%2Fsecret.json',
    '/metadata/..%2f..%2fsecret.json',
    '/.%2e/secret.json',
    '/..\\secret.json',
    '/metadata%5c..%5c..%5csecret.json',
    '/metadata/timestamp.json%00.png',
    '/metadata/link.json',
    '/up/secret.json',
    '/../store.json',
    '/metadata/.timestamp.json.0a1b2c.tmp',
    '/%252e%252e/secret.json',
    'secret.json',
  ];
  for (const path of attempts) {
    const answer = await fixture.raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 40[04] /, `${path}: ${answer.slice(0, 40)}`);
    assert.ok(!answer.includes(secret), `${path} leaked the file`);
  }
  const nul = await fixture.raw('GET /metadata/timestamp.json\0 HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.match(nul, /^HTTP\/1\.1 400 /);
});

test('a request that meets a bug is answered 500 with nothing of it, and the bug is logged', async () => {
  const logged: string[] = [];
  const fixture = await startFixture({
    console: {
      handle: async () => {
        throw new TypeError('a bug in the console');
      },
    },
    onError: (error, request) => logged.push(`${request}: ${(error as Error).message}`),
  });
  const r = await fixture.get('/console/api/overview');
  assert.equal(r.status, 500);
  assert.equal(r.body.length, 0, 'the client learns nothing of the bug');
  assert.deepEqual(logged, ['GET /console/api/overview: a bug in the console']);
  assert.equal((await fixture.get('/metadata/timestamp.json')).status, 200, 'the server goes on');
});
