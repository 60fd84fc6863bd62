// Two timestamp versions of the same size written within one second never share nginx's ETag
// ("mtime-size", whole seconds): the second file's mtime is a whole second later.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { replaceTimestampFile } from '../../../src/publisher/tuf/timestamp-file.ts';
import { tempDir } from '../../helpers.ts';

const nginxEtag = async (path: string) => {
  const info = await stat(path);
  return `"${Math.floor(info.mtimeMs / 1000).toString(16)}-${info.size.toString(16)}"`;
};

test('timestamp.json replaced three times in a row gets a new whole-second mtime each time', async () => {
  const path = join(await tempDir(), 'timestamp.json');
  const etags: string[] = [];
  for (const version of [1, 2, 3]) {
    await replaceTimestampFile(path, new TextEncoder().encode(`{"version":${version}}`));
    etags.push(await nginxEtag(path));
  }
  assert.equal(new Set(etags).size, 3, etags.join(' '));
  assert.equal(await readFile(path, 'utf8'), '{"version":3}');
});
