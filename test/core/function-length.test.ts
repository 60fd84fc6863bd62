// No function in src/ runs over 80 lines: a long function mixes deciding and doing. The scanner
// (test/support/function-lengths.ts) is tested here on the shapes it must tell apart, then run on src/.
// LONG_FUNCTIONS names the functions still waiting to be split, each with its length today: the test
// fails on any other function over the limit, and on one of these that grew.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { functionSpans } from '../support/function-lengths.ts';

const MAX_LINES = 80;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `file:line` of a function's head → its length today. Only shrinks. */
const LONG_FUNCTIONS: Readonly<Record<string, number>> = {};

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `  step(${i});`).join('\n');

test('the scanner measures functions, methods and arrows, and not blocks, types or strings', () => {
  const source = [
    'export async function long(a: number): Promise<{ ok: boolean }> {',
    body(81),
    '}',
    'class A {',
    '  async *method(x = {}): AsyncIterable<number> {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text with a template literal in it
    "    const text = `${'}'} { ${x}`; // }",
    "    if (x) { yield /[{]/.test('{') ? 1 : 2; } else { yield 3; }",
    '  }',
    '}',
    'const arrow = async (b: string) => {',
    '  for (const c of b) { use(c); }',
    '};',
  ].join('\n');
  const spans = functionSpans(source).map((s) => [s.start, s.lines]);
  assert.deepEqual(spans, [
    [1, 81],
    [83, 4],
    [88, 3],
  ]);
});

test(`no function in src/ is over ${MAX_LINES} lines, but those still listed, and none of them grew`, async () => {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    const name = relative(ROOT, file);
    for (const span of functionSpans(await readFile(file, 'utf8'))) {
      if (span.lines <= MAX_LINES) continue;
      const key = `${name}:${span.name.split(' (')[0]}`;
      seen.add(key);
      const allowed = LONG_FUNCTIONS[key];
      if (allowed === undefined || span.lines > allowed)
        found.push(`${name}:${span.start} ${span.name} … is ${span.lines} lines`);
    }
  }
  assert.deepEqual(found, [], `split these functions (at most ${MAX_LINES} lines each)`);
  const gone = Object.keys(LONG_FUNCTIONS).filter((key) => !seen.has(key));
  assert.deepEqual(gone, [], 'these are short now: take them off LONG_FUNCTIONS');
});
