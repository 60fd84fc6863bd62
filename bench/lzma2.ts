// LZMA2 for microcontrollers (docs/BOOTLOADER-C.md §Compression): the Pybricks corpus as sihl packs it
// today (Brotli, 64 KiB window, the branch filter `--filter auto` picks) beside raw LZMA2 with that same
// filter at 16, 32 and 64 KiB dictionaries, as sihl packs it (lzma-native) and as the xz command line
// does (`xz --format=raw --armthumb|--arm --lzma2=preset=9e,dict=N`), and the C decoder's RAM at each
// (xz-embedded's state and dictionary, from bootloader/build/host/sihl-host --lzma-memory).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertAll } from '../src/core/compress/branch-filter.ts';
import { lzma2Compress } from '../src/core/compress/lzma2.ts';
import type { BranchFilter } from '../src/core/format/manifest.ts';
import { packImage } from '../src/core/image/index.ts';
import { benchTrust } from './keys.ts';

export const DICTIONARY_LOGS = [14, 15, 16] as const;
const HOST = fileURLToPath(new URL('../bootloader/build/host/sihl-host', import.meta.url));

export interface Lzma2Row {
  readonly name: string;
  readonly original: number;
  readonly filter: BranchFilter;
  /** sihl's default today: the Brotli stream of `image pack` (compressedSize). */
  readonly brotli: number;
  /** Raw LZMA2 with the Thumb filter, per dictionary log, by sihl and by the xz command line (null without xz). */
  readonly sihl: readonly number[];
  readonly xz: readonly (number | null)[];
}

function xzRaw(data: Uint8Array, filter: BranchFilter, log: number): number | null {
  const bcj = filter === 'thumb' ? ['--armthumb'] : filter === 'arm' ? ['--arm'] : [];
  const run = spawnSync(
    'xz',
    ['--format=raw', ...bcj, `--lzma2=preset=9e,dict=${2 ** (log - 10)}KiB`, '-c'],
    { input: data, maxBuffer: 64 * 1024 * 1024 },
  );
  return run.error || run.status !== 0 ? null : run.stdout.length;
}

/** The C decoder's RAM at 2^log, or null when the host tool has not been built. */
export function decoderMemory(log: number): { decoder: number; dictionary: number } | null {
  if (!existsSync(HOST)) return null;
  const run = spawnSync(HOST, ['--lzma-memory', String(log)], { encoding: 'utf8' });
  if (run.status !== 0) return null;
  return JSON.parse(run.stdout) as { decoder: number; dictionary: number };
}

export async function compareLzma2(
  corpus: ReadonlyMap<string, Uint8Array>,
  dir: string,
  log: (line: string) => void,
): Promise<Lzma2Row[]> {
  const trust = benchTrust();
  const rows: Lzma2Row[] = [];
  for (const [name, firmware] of corpus) {
    log(`lzma2: ${name} (${firmware.length} bytes)`);
    const input = join(dir, `${name}.lzma2-bench.bin`);
    await writeFile(input, firmware);
    const packed = await packImage(input, join(dir, `${name}.lzma2-bench.sihl`), {
      model: name,
      version: '7.28.0',
      delegation: trust.delegation,
      signers: trust.approvers.slice(0, 2),
      encrypt: false,
    });
    const { filter } = packed.manifest.compression;
    const filtered = convertAll(firmware, filter, 'encode');
    rows.push({
      name,
      original: firmware.length,
      filter,
      brotli: packed.manifest.compression.compressedSize,
      sihl: DICTIONARY_LOGS.map((l) => lzma2Compress(filtered, l).length),
      xz: DICTIONARY_LOGS.map((l) => xzRaw(firmware, filter, l)),
    });
  }
  return rows;
}

const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(1)} %`;

export function lzma2Table(rows: readonly Lzma2Row[]): string {
  const sum = (f: (r: Lzma2Row) => number | null) =>
    rows.reduce<number | null>((a, r) => (a === null || f(r) === null ? null : a + (f(r) as number)), 0);
  const total: Lzma2Row = {
    name: '**all**',
    original: sum((r) => r.original) as number,
    filter: 'none',
    brotli: sum((r) => r.brotli) as number,
    sihl: DICTIONARY_LOGS.map((_, i) => sum((r) => r.sihl[i] as number) as number),
    xz: DICTIONARY_LOGS.map((_, i) => sum((r) => r.xz[i] ?? null)),
  };
  const header = [
    '| firmware | bytes | filter | Brotli (sihl today) | ' +
      DICTIONARY_LOGS.map((l) => `LZMA2 ${2 ** (l - 10)} KiB (sihl) | xz ${2 ** (l - 10)} KiB`).join(' | ') +
      ' |',
    `|---|---:|---|---:|${DICTIONARY_LOGS.map(() => '---:|---:|').join('')}`,
  ];
  const line = (r: Lzma2Row) =>
    `| ${r.name} | ${r.original} | ${r.name === '**all**' ? '' : r.filter} | ${r.brotli} (${pct(r.brotli, r.original)}) | ` +
    DICTIONARY_LOGS.map(
      (_, i) =>
        `${r.sihl[i]} (${pct(r.sihl[i] as number, r.original)}) | ${r.xz[i] === null ? 'no xz' : `${r.xz[i]}`}`,
    ).join(' | ') +
    ' |';
  const memory = DICTIONARY_LOGS.map((l) => {
    const m = decoderMemory(l);
    return m
      ? `${2 ** (l - 10)} KiB: ${m.decoder} bytes (state ${m.decoder - m.dictionary} + dictionary ${m.dictionary})`
      : `${2 ** (l - 10)} KiB: (build bootloader/ to measure)`;
  });
  return [
    '## LZMA2 for the C bootloader (Pybricks corpus)',
    '',
    ...header,
    ...rows.map(line),
    line(total),
    '',
    `The C decoder's RAM (xz-embedded, host build): ${memory.join('; ')}.`,
  ].join('\n');
}

export async function benchLzma2(
  corpus: ReadonlyMap<string, Uint8Array>,
  dir: string,
  log: (line: string) => void,
): Promise<string> {
  return lzma2Table(await compareLzma2(corpus, dir, log));
}
