// docs/THREATS.md names a test for every threat and bad input, as `file: test name`. Each named file must
// exist and hold that test: the name as written, or, for tests made from a table of rows, the
// `prefix: ` of a template (`bad input: ${row.name}`) and the row's name.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REFERENCE = /`(test\/[\w./-]+\.test\.ts): ([^`]+)`/g;

function quoted(source: string, text: string): boolean {
  return [`'${text}'`, `"${text}"`, `\`${text}\``].some((q) => source.includes(q));
}

test('every test docs/THREATS.md names exists in the file it names', async () => {
  const doc = await readFile(`${ROOT}docs/THREATS.md`, 'utf8');
  const references = [...doc.matchAll(REFERENCE)].map((m) => ({
    file: m[1] as string,
    name: m[2] as string,
  }));
  assert.ok(references.length >= 80, `only ${references.length} references found`);
  const missing: string[] = [];
  for (const { file, name } of references) {
    const source = await readFile(`${ROOT}${file}`, 'utf8').catch(() => undefined);
    if (source === undefined) {
      missing.push(`${file}: no such file`);
      continue;
    }
    const row = /^([\w ]+): (.+)$/.exec(name);
    const templated = row !== null && source.includes(`\`${row[1]}: \${`) && quoted(source, row[2] as string);
    if (!quoted(source, name) && !templated) missing.push(`${file}: ${name}`);
  }
  assert.deepEqual(missing, []);
});

test('the bad-input table lists at least 30 inputs', async () => {
  const doc = await readFile(`${ROOT}docs/THREATS.md`, 'utf8');
  const rows = doc.split('\n').filter((line) => /^\| (CLI|HTTP) \|/.test(line));
  assert.ok(rows.length >= 30, `${rows.length} rows`);
});
