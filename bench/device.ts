// `npm run bench -- --device`: only the device steps, decode alone and install, on the inputs a
// simulated device can hold, each three times with the median kept. With `--write` it replaces in
// docs/BENCHMARKS.md just what it measured (those rows, the flash table and the note saying how and
// when they were measured) and leaves every other figure of the last full run as it was.
import { rm } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFirmwareLike } from './input.ts';
import { deviceRows, FLASH_NOTE, flashTable, sizeLabel } from './report.ts';
import type { Operation, WorkerResult } from './worker.ts';

export interface DeviceRun {
  readonly size: number;
  readonly decode: WorkerResult;
  readonly install: WorkerResult;
  /** Every run's wall-clock and CPU seconds, in the order they ran. */
  readonly tries: { readonly decode: readonly Timing[]; readonly install: readonly Timing[] };
}

export interface Timing {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

export interface DeviceBench {
  readonly runs: readonly DeviceRun[];
  /** One-minute load averages when the runs started and when they ended. */
  readonly load: readonly [number, number];
  readonly date: string;
}

type Measure = (operation: Operation, ...paths: string[]) => Promise<WorkerResult>;
type Median = (tries: readonly WorkerResult[]) => WorkerResult;

const REPEATS = 3;

export async function benchDevice(
  dir: string,
  sizes: readonly number[],
  corpus: ReadonlyMap<string, Uint8Array>,
  tools: { measure: Measure; median: Median; log: (line: string) => void },
): Promise<DeviceBench> {
  const { measure, median, log } = tools;
  const started = loadavg()[0] as number;
  const runs: DeviceRun[] = [];
  for (const size of sizes) {
    const label = sizeLabel(size);
    const input = join(dir, `device-input-${size}.bin`);
    const image = join(dir, `device-image-${size}.sihl`);
    try {
      log(`${label}: writing the firmware-like input and packing it`);
      await writeFirmwareLike(input, size, corpus);
      await measure('pack', input, image);
      const tries: Record<'decode' | 'install', WorkerResult[]> = { decode: [], install: [] };
      // Alternated, so a change in the machine's load falls on both steps alike.
      for (let i = 0; i < REPEATS; i++) {
        for (const step of ['decode', 'install'] as const) {
          const result = await measure(step, image, input);
          log(`${label}: ${step} (run ${i + 1}) took ${result.seconds.toFixed(3)} s`);
          tries[step].push(result);
        }
      }
      runs.push({
        size,
        decode: median(tries.decode),
        install: median(tries.install),
        tries: { decode: tries.decode.map(timing), install: tries.install.map(timing) },
      });
    } finally {
      for (const path of [input, image, `${image}.envelope`]) await rm(path, { force: true });
    }
  }
  const ended = loadavg()[0] as number;
  return { runs, load: [started, ended], date: new Date().toISOString().slice(0, 10) };
}

const cpuMedian = (tries: readonly Timing[]) =>
  [...tries].map((t) => t.cpuSeconds).sort((a, b) => a - b)[tries.length >> 1] as number;
const timing = ({ seconds, cpuSeconds }: WorkerResult): Timing => ({ seconds, cpuSeconds });
const list = (values: readonly Timing[]) =>
  values.map((t) => `${t.seconds.toFixed(3)} s (CPU ${t.cpuSeconds.toFixed(3)} s)`).join(', ');

/** How the device rows were measured, with the machine's load as it was. */
export function deviceNote(bench: DeviceBench): string {
  const each = bench.runs.map(
    (r) =>
      `${sizeLabel(r.size)}: install ${list(r.tries.install)}; decode alone ${list(r.tries.decode)}; ` +
      `install throughput ${(r.decode.seconds / r.install.seconds).toFixed(2)}× decode alone's by the ` +
      `median wall-clock times, ${(cpuMedian(r.tries.decode) / cpuMedian(r.tries.install)).toFixed(2)}× by the median CPU times`,
  );
  return (
    `The decode-alone and install rows of ${bench.runs.map((r) => sizeLabel(r.size)).join(', ')} and the flash ` +
    `table come from \`npm run bench -- --device --write\` on ${bench.date}: the two steps alternated, ` +
    `three runs each, the median wall-clock time shown (${each.join('; ')}; CPU counts every thread, ` +
    `Brotli's included). The machine was shared with other jobs: ` +
    `load average ${bench.load[0].toFixed(1)} when the runs started and ${bench.load[1].toFixed(1)} when ` +
    `they ended, on ${availableParallelism()} cores. The other rows are from the last full run.`
  );
}

/** The device results as printed on stdout. */
export function deviceResults(bench: DeviceBench): string {
  const rows = bench.runs.flatMap((r) => deviceRows(r.size, r.decode, r.install));
  return [
    '| Input | Step | Time | MB/s | Peak RSS | Output | Time beside Brotli alone |',
    '| --- | --- | --: | --: | --: | --: | --- |',
    ...rows,
    '',
    flashTable(bench.runs),
    '',
    deviceNote(bench),
  ].join('\n');
}

const NOTE_STARTS = ['The decode-alone and install rows', 'The two 16 MiB rows above'];

/**
 * docs/BENCHMARKS.md with the measured rows, the flash table and the note replaced. The decode row
 * loses its comparison with Brotli decompress alone, which was not measured again.
 */
export function updateDocument(doc: string, bench: DeviceBench): string {
  let lines = doc.split('\n');
  for (const run of bench.runs) {
    const label = sizeLabel(run.size);
    const at = lines.findIndex((l) => l.startsWith(`| ${label} | decode alone`));
    if (at < 0) throw new Error(`docs/BENCHMARKS.md has no decode row for ${label}: run the full bench`);
    const hasInstall = lines[at + 1]?.startsWith(`| ${label} | **install**`) === true;
    lines.splice(at, hasInstall ? 2 : 1, ...deviceRows(run.size, run.decode, run.install));
  }
  const table = lines.findIndex((l) => l.startsWith('| Input | Firmware sectors'));
  if (table < 0) throw new Error('docs/BENCHMARKS.md has no flash table: run the full bench');
  let end = table;
  while (lines[end]?.startsWith('|')) end++;
  lines.splice(table, end - table, ...flashTable(bench.runs).split('\n'));
  replaceParagraph(lines, 'Flash work of the boot that installed', FLASH_NOTE);
  const replaced = NOTE_STARTS.some((start) => replaceParagraph(lines, start, deviceNote(bench)));
  const next = lines.indexOf('## Compression of the Pybricks corpus');
  if (!replaced && next >= 0) lines = [...lines.slice(0, next), deviceNote(bench), '', ...lines.slice(next)];
  return lines.join('\n');
}

/** Replaces the paragraph whose first line starts with `start`; false when there is none. */
function replaceParagraph(lines: string[], start: string, text: string): boolean {
  const at = lines.findIndex((l) => l.startsWith(start));
  if (at < 0) return false;
  let after = at;
  while ((lines[after] ?? '') !== '') after++;
  lines.splice(at, after - at, text);
  return true;
}
