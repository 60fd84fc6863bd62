// The memory section of docs/BENCHMARKS.md is written by the bench (bench/memory.ts), not by hand: a
// regenerated file keeps it, with sihl beside Node's floor, nginx, and nginx in front of sihl, and the
// ratios said in words are the ones in its table.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  MEMORY_HEADING,
  type MemoryRun,
  type MemoryServer,
  memorySection,
  replaceSection,
  SERVE_HEADING,
} from '../../bench/memory.ts';

const server = (name: MemoryServer['name'], perConnection: [number, number, number]): MemoryServer => ({
  name,
  load: [1.5, 2],
  held: {
    connections: 10_000,
    seconds: 60,
    openSeconds: 30,
    polls: 400_000,
    failed: 0,
    closedBeforeAnswer: 0,
    rssIdleMiB: 100,
    rssAllUpMiB: 800,
    rssEndMiB: 820,
    kibPerConnection: { '10s': perConnection[0], '30s': perConnection[1], '60s': perConnection[2] },
  },
});

const run: MemoryRun = {
  connections: 10_000,
  seconds: 60,
  date: '2026-12-03',
  nginxVersion: 'nginx/1.22.1',
  servers: [
    server('sihl', [75, 76, 78]),
    server('node', [78, 78, 78]),
    server('nginx', [15, 15, 15]),
    server('inFront', [15.5, 15.5, 15.6]),
  ],
};

test('the memory section shows all four servers at 10, 30 and 60 s and says the ratios its table gives', () => {
  const text = memorySection(run);
  for (const row of ['`sihl serve` alone', "Node's HTTPS server", 'nginx alone', 'nginx in front of sihl'])
    assert.ok(
      text.split('\n').some((l) => l.startsWith(`| ${row}`)),
      `a row for ${row}`,
    );
  assert.match(text, /\| 75\.0 KiB \| 76\.0 KiB \| 78\.0 KiB \|/);
  assert.match(text, /holds 1\.00× the memory per connection of Node's own HTTPS server/);
  assert.match(text, /and 4\.0 % more than at 10 s/);
  assert.match(text, /nginx in front of sihl holds 1\.04× nginx alone's memory per connection/);
});

test('writing the figures into docs/BENCHMARKS.md replaces the two sections and keeps every other one', async () => {
  const doc = await readFile(new URL('../../docs/BENCHMARKS.md', import.meta.url), 'utf8');
  const headings = (text: string) => text.split('\n').filter((l) => l.startsWith('## '));
  const written = replaceSection(
    replaceSection(doc, SERVE_HEADING, `${SERVE_HEADING}\n\nnew`),
    MEMORY_HEADING,
    memorySection(run),
  );
  assert.deepEqual(headings(written).length, headings(doc).length);
  assert.equal(headings(written).filter((h) => h === MEMORY_HEADING).length, 1);
  assert.ok(written.includes(`${SERVE_HEADING}\n\nnew\n\n${MEMORY_HEADING}`));
  assert.ok(written.includes('## Publishing to cloud stores'));
});
