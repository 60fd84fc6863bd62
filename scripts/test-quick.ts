// npm run test:quick: every test file but those tagged slow — a first line of the form
// `// tag: slow (why)` marks a file that starts an emulator, a browser or a fleet, or that runs over a
// few seconds on an idle machine. `npm test` runs them all. Extra arguments go to `node --test`.
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The tag, on a line of its own among a file's opening comments. */
export const SLOW_TAG = /^\/\/ tag: slow\b/m;

const root = fileURLToPath(new URL('../', import.meta.url));
const entries = await readdir(join(root, 'test'), { withFileTypes: true, recursive: true });
const files: string[] = [];
let slow = 0;
for (const e of entries) {
  if (!e.isFile() || !e.name.endsWith('.test.ts')) continue;
  const path = join(e.parentPath, e.name);
  const lines = (await readFile(path, 'utf8')).split('\n');
  const end = lines.findIndex((line) => !line.startsWith('//'));
  const opening = lines.slice(0, Math.max(0, end));
  if (SLOW_TAG.test(opening.join('\n'))) slow++;
  else files.push(relative(root, path));
}
process.stderr.write(`test:quick: ${files.length} files, ${slow} tagged slow left for npm test\n`);
const run = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', ...process.argv.slice(2), ...files.sort()],
  { cwd: root, stdio: 'inherit' },
);
process.exitCode = run.status ?? 1;
