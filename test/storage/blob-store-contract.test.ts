// One contract for every BlobStore adapter: a local folder, Azure Blob Storage on Azurite and S3 on s3rver,
// each opened from its location as `--store` would open it. Emulator-backed: starts Azurite and s3rver.
// tag: slow (starts s3rver and Azurite)
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isSihlError } from '../../src/core/errors.ts';
import { azureContainerClient } from '../../src/storage/azure-connect.ts';
import { type BlobStore, readBlob } from '../../src/storage/blob-store.ts';
import { openBlobStore, parseStoreLocation } from '../../src/storage/locations.ts';
import { tempDir } from '../helpers.ts';
import { AZURITE_ACCOUNT, startAzurite } from '../support/azurite.ts';
import { startS3rver } from '../support/s3rver.ts';

const MiB = 1024 * 1024;
const CONTAINER = 'contract';

const azurite = await startAzurite();
const s3 = await startS3rver([CONTAINER]);
const azureEnv = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
await azureContainerClient(AZURITE_ACCOUNT, CONTAINER, azureEnv).createIfNotExists();

/** Deterministic bytes that differ at every offset modulo a large period, so misplaced ranges show. */
function pattern(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function bodyOf(store: BlobStore, key: string, options = {}): Promise<Uint8Array> {
  const result = await store.get(key, options);
  assert.ok(result !== null && result.status === 'ok');
  const chunks: Uint8Array[] = [];
  for await (const chunk of result.body) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

/** A stream that sends `before` bytes in 1 MiB chunks and then fails, as a dropped connection would. */
async function* failingSource(before: number): AsyncIterable<Uint8Array> {
  for (let sent = 0; sent < before; sent += MiB) yield pattern(MiB, sent + 7);
  throw new Error('source failed half-way');
}

let stores = 0;
interface Adapter {
  name: string;
  local?: true;
  /** s3rver lists in its file system's order; S3, Azure and the folder list in key order. */
  unorderedList?: true;
  open(): Promise<{ store: BlobStore; root?: string }>;
}

const adapters: Adapter[] = [
  {
    name: 'local folder',
    local: true,
    async open() {
      const root = await tempDir();
      return { store: await openBlobStore(parseStoreLocation(root)), root };
    },
  },
  {
    name: 'Azure Blob Storage (Azurite)',
    async open() {
      const location = parseStoreLocation(`azure://${AZURITE_ACCOUNT}/${CONTAINER}/run/s${++stores}`);
      return { store: await openBlobStore(location, azureEnv) };
    },
  },
  {
    name: 'S3 (s3rver)',
    unorderedList: true,
    async open() {
      const location = parseStoreLocation(`s3://${CONTAINER}/run/s${++stores}`);
      return { store: await openBlobStore(location, s3.env) };
    },
  },
];

for (const adapter of adapters) {
  describe(`BlobStore on ${adapter.name}`, () => {
    const open = async () => {
      const opened = await adapter.open();
      after(() => opened.store.close());
      return opened;
    };

    test('stores small bytes and gives them back with their size, etag and content type', async () => {
      const { store } = await open();
      const data = new TextEncoder().encode('{"signed":{}}');
      const put = await store.put('metadata/timestamp.json', data, { contentType: 'application/json' });
      assert.equal(put.size, data.length);
      const head = await store.head('metadata/timestamp.json');
      assert.deepEqual(head, put);
      assert.equal(head?.contentType, 'application/json');
      assert.deepEqual(await bodyOf(store, 'metadata/timestamp.json'), data);
      assert.deepEqual(await readBlob(store, 'metadata/timestamp.json', 1024), data);
    });

    test('streams a multi-MiB file up and down intact', async () => {
      const { store } = await open();
      const data = pattern(9 * MiB + 123);
      const path = join(await tempDir(), 'image.sihl');
      await writeFile(path, data);
      const sent: number[] = [];
      const put = await store.put(
        'targets/image.sihl',
        { path },
        { onProgress: (bytes) => sent.push(bytes) },
      );
      assert.equal(put.size, data.length);
      assert.ok(sent.length > 0 && (sent.at(-1) as number) <= data.length);
      assert.ok(Buffer.from(await bodyOf(store, 'targets/image.sihl')).equals(data));
    });

    test('stores a stream of chunks and an empty object', async () => {
      const { store } = await open();
      async function* chunks() {
        yield pattern(1000, 1);
        yield pattern(3000, 2);
      }
      assert.equal((await store.put('parts/1.bin', chunks())).size, 4000);
      assert.deepEqual(
        await bodyOf(store, 'parts/1.bin'),
        new Uint8Array([...pattern(1000, 1), ...pattern(3000, 2)]),
      );
      assert.equal((await store.put('empty', new Uint8Array(0))).size, 0);
      assert.equal((await bodyOf(store, 'empty')).length, 0);
    });

    test('reads byte ranges, inclusive at both ends, clamped at the end of the object', async () => {
      const { store } = await open();
      const data = pattern(1000);
      await store.put('blob', data);
      const middle = await store.get('blob', { range: { start: 10, end: 19 } });
      assert.ok(middle?.status === 'ok');
      assert.deepEqual(middle.range, { start: 10, end: 19 });
      assert.equal(middle.info.size, 1000);
      middle.body.destroy();
      assert.deepEqual(await bodyOf(store, 'blob', { range: { start: 10, end: 19 } }), data.subarray(10, 20));
      assert.deepEqual(await bodyOf(store, 'blob', { range: { start: 990 } }), data.subarray(990));
      assert.deepEqual(await bodyOf(store, 'blob', { range: { start: 995, end: 5000 } }), data.subarray(995));
      await assert.rejects(store.get('blob', { range: { start: 1000 } }), (e) =>
        isSihlError(e, 'RANGE_INVALID'),
      );
      await assert.rejects(store.get('blob', { range: { start: 5, end: 4 } }), (e) =>
        isSihlError(e, 'USAGE'),
      );
    });

    test('answers not-modified to a conditional get with the current etag, and the bytes once replaced', async () => {
      const { store } = await open();
      const first = await store.put('metadata/timestamp.json', new TextEncoder().encode('{"v":1}'));
      assert.deepEqual(await store.get('metadata/timestamp.json', { ifNoneMatch: first.etag }), {
        status: 'not-modified',
        etag: first.etag,
      });
      const second = await store.put('metadata/timestamp.json', new TextEncoder().encode('{"v":22}'));
      assert.notEqual(second.etag, first.etag);
      const fresh = await store.get('metadata/timestamp.json', { ifNoneMatch: first.etag });
      assert.ok(fresh?.status === 'ok');
      assert.equal(fresh.info.etag, second.etag);
      fresh.body.destroy();
    });

    test("refuses to overwrite with ifNoneMatch '*' and keeps the first object", async () => {
      const { store } = await open();
      await store.put('metadata/1.root.json', new TextEncoder().encode('first'), { ifNoneMatch: '*' });
      await assert.rejects(
        store.put('metadata/1.root.json', new TextEncoder().encode('second'), { ifNoneMatch: '*' }),
        (e) => isSihlError(e, 'FILE_EXISTS'),
      );
      assert.equal(new TextDecoder().decode(await bodyOf(store, 'metadata/1.root.json')), 'first');
    });

    test('says null for a missing object, and deleting one that is gone is no error', async () => {
      const { store } = await open();
      assert.equal(await store.head('nothing/here'), null);
      assert.equal(await store.get('nothing/here'), null);
      await store.put('gone', new Uint8Array([1]));
      await store.delete('gone');
      await store.delete('gone');
      assert.equal(await store.head('gone'), null);
    });

    test('lists by string prefix, in key order', async () => {
      const { store } = await open();
      for (const key of [
        'targets/b.bin',
        'metadata/timestamp.json',
        'targets-old.bin',
        'metadata/1.root.json',
      ]) {
        await store.put(key, new TextEncoder().encode(key));
      }
      const keys = async (prefix?: string) => {
        const listed = (await collect(store.list(prefix))).map((info) => info.key);
        return adapter.unorderedList ? listed.sort() : listed;
      };
      assert.deepEqual(await keys('metadata/'), ['metadata/1.root.json', 'metadata/timestamp.json']);
      assert.deepEqual(await keys('targets'), ['targets-old.bin', 'targets/b.bin']);
      assert.deepEqual(await keys('meta'), ['metadata/1.root.json', 'metadata/timestamp.json']);
      assert.deepEqual(await keys('none/'), []);
      assert.equal((await keys()).length, 4);
      const [root] = await collect(store.list('metadata/1'));
      assert.equal(root?.size, 'metadata/1.root.json'.length);
    });

    test('leaves nothing visible when an upload is interrupted half-way', async () => {
      const { store, root } = await open();
      await assert.rejects(store.put('targets/big.sihl', failingSource(10 * MiB)), /source failed half-way/);
      await assert.rejects(
        store.put('targets/new.sihl', failingSource(2 * MiB), { ifNoneMatch: '*' }),
        /source failed/,
      );
      assert.equal(await store.head('targets/big.sihl'), null);
      assert.equal(await store.get('targets/big.sihl'), null);
      assert.deepEqual(await collect(store.list('targets/')), []);
      if (root !== undefined) {
        const left = await readdir(root, { recursive: true, withFileTypes: true });
        assert.deepEqual(
          left.filter((entry) => entry.isFile()).map((entry) => entry.name),
          [],
        );
      }
    });

    test('refuses keys that are not plain relative paths', async () => {
      const { store } = await open();
      for (const key of [
        '',
        '/abs',
        'a//b',
        '../up',
        'a/./b',
        '.hidden',
        'a/.tmp',
        'sp ace',
        'back\\slash',
      ]) {
        await assert.rejects(store.put(key, new Uint8Array(1)), (e) => isSihlError(e, 'USAGE'), key);
      }
    });

    if (adapter.local) {
      test('keeps the folder layout that publishing writes and the HTTPS server serves', async () => {
        const { store, root } = await open();
        assert.ok(root !== undefined);
        await mkdir(join(root, 'metadata'), { recursive: true });
        await writeFile(join(root, 'metadata', '3.snapshot.json'), '{"snap":3}');
        assert.equal(new TextDecoder().decode(await bodyOf(store, 'metadata/3.snapshot.json')), '{"snap":3}');
        await store.put('targets/Hub/abc.Hub-1.sihl', new Uint8Array([9, 8, 7]));
        assert.deepEqual(
          new Uint8Array(await readFile(join(root, 'targets', 'Hub', 'abc.Hub-1.sihl'))),
          new Uint8Array([9, 8, 7]),
        );
      });
    }
  });
}
