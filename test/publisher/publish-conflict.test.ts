// Two publications at once: one wins, the other is told what happened and what to do, and is never
// told to "pass --force" (publishing has no such option).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ok, sihl } from '../support/cli.ts';
import { PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { approvedRelease, WS } from './gate-support.ts';

test('two publishes at once: one wins, the loser is told to run again, not to pass --force', async () => {
  const { cwd } = await approvedRelease();
  await writeFile(join(cwd, 'other.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  await ok(cwd, ['release', 'create', 'other.bin', '--model', 'movehub', '--version', '1.1.0', ...WS]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', 'movehub-1.1.0', '--key', key, ...WS]);
  const results = await Promise.all([
    sihl(cwd, ['release', 'publish', 'movehub-1.0.0', ...WS]),
    sihl(cwd, ['release', 'publish', 'movehub-1.1.0', ...WS]),
  ]);
  const codes = results.map((r) => r.code).sort();
  assert.deepEqual(codes[0], 0, 'one publication goes through');
  for (const r of results.filter((x) => x.code !== 0)) {
    assert.doesNotMatch(r.err, /--force/, r.err);
    assert.match(r.err, /another publication .*run the command again/s, r.err);
  }
});
