import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';

test('npm start updates a small simulated fleet: power cuts repeat the install, a wrong envelope is refused', async () => {
  const script = new URL('../../scripts/start.ts', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [script]);
  assert.match(stdout, /7 of 8 devices run 7\.28\.0/);
  assert.equal(stdout.match(/power cut at op \d+, then installed/g)?.length, 2);
  assert.match(stdout, /rejected: ENVELOPE_WRONG_RECIPIENT\s+7\.27\.0/);
  assert.doesNotMatch(stdout, /\bNO\b/);
  const folder = stdout.match(/Devices are saved in (\S+)devices/)?.[1];
  if (folder) await rm(folder, { recursive: true, force: true });
});
