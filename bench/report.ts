// Markdown for the benchmark: the throughput and memory table, the flash work of an install, the corpus
// table, the machine, and the prose that docs/BENCHMARKS.md wraps around them.

import type { CloudRun } from './cloud.ts';
import type { CorpusRow } from './corpus.ts';
import { type FleetBenchRun, fleetSection } from './fleet.ts';
import { type MemoryRun, memorySection } from './memory.ts';
import type { PublishRun } from './publish.ts';
import { type ServeRun, serveSection } from './serve.ts';
import type { WorkerResult } from './worker.ts';

export type Step = 'compress' | 'decompress' | 'pack' | 'verify' | 'unpack' | 'decode';
/** Measured only on inputs small enough for a simulated device to hold. */
export type DeviceStep = 'install';

export type SizeRun =
  | {
      readonly size: number;
      readonly steps: Readonly<Record<Step, WorkerResult>>;
      readonly install?: WorkerResult;
    }
  | { readonly size: number; readonly skipped: string };

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memory: number;
  readonly os: string;
  readonly node: string;
  readonly brotli: string;
  readonly xz: string | null;
  readonly date: string;
}

const MIB = 1024 * 1024;

export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)} GiB`;
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const rss = (r: WorkerResult) => `${(r.maxRssKiB / 1024).toFixed(0)} MiB`;
const seconds = (s: number) => (s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);
const mbps = (r: WorkerResult) => (r.bytes / 1e6 / r.seconds).toFixed(1);
const times = (a: WorkerResult, b: WorkerResult) => `${(a.seconds / b.seconds).toFixed(2)}×`;
const grouped = (n: number) => n.toLocaleString('en-US');
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

const DECODE_STEP =
  'decode alone (verify signatures, open envelope, authenticate each chunk, decrypt, decompress, no output)';
const INSTALL_STEP =
  '**install** into simulated flash (the boot: verify signatures, back up the old firmware, one streaming pass that authenticates, decodes, writes and reads back each sector, erase staging)';

function stepRow(input: string, step: string, r: WorkerResult, output: string, beside: string): string {
  return `| ${input} | ${step} | ${seconds(r.seconds)} | ${mbps(r)} | ${rss(r)} | ${output} | ${beside} |`;
}

/** The rows of decode alone (beside Brotli decompress alone when measured) and of the install. */
export function deviceRows(
  size: number,
  decode: WorkerResult,
  install: WorkerResult | undefined,
  decompress?: WorkerResult,
): string[] {
  const input = sizeLabel(size);
  return [
    stepRow(input, DECODE_STEP, decode, '—', decompress ? `${times(decode, decompress)} decompress` : '—'),
    ...(install
      ? [
          stepRow(
            input,
            INSTALL_STEP,
            install,
            mib(install.outputBytes),
            `${times(install, decode)} decode alone`,
          ),
        ]
      : []),
  ];
}

export function throughputTable(runs: readonly SizeRun[]): string {
  const lines = [
    '| Input | Step | Time | MB/s | Peak RSS | Output | Time beside Brotli alone |',
    '| --- | --- | --: | --: | --: | --: | --- |',
  ];
  for (const run of runs) {
    const input = sizeLabel(run.size);
    if ('skipped' in run) {
      lines.push(`| ${input} | skipped: ${run.skipped} | | | | | |`);
      continue;
    }
    const { compress, decompress, pack, verify, unpack, decode } = run.steps;
    const quality = compress.details?.quality;
    const filter = pack.details?.filter;
    const row = (step: string, r: WorkerResult, output: string, beside: string) =>
      lines.push(stepRow(input, step, r, output, beside));
    row(`Brotli compress alone (q${quality}, 64 KiB window)`, compress, mib(compress.outputBytes), '—');
    row(
      `**pack** (${filter} filter, Brotli q${quality}, encrypt, 2 signatures)`,
      pack,
      mib(pack.outputBytes),
      `${times(pack, compress)} compress`,
    );
    row('Brotli decompress alone', decompress, mib(decompress.outputBytes), '—');
    row(
      '**unpack** (verify, open envelope, decrypt, decompress, write)',
      unpack,
      mib(unpack.outputBytes),
      `${times(unpack, decompress)} decompress`,
    );
    row('verify alone (signatures, payload digest)', verify, '—', `${times(verify, decompress)} decompress`);
    lines.push(...deviceRows(run.size, decode, run.install, decompress));
  }
  return lines.join('\n');
}

const detail = (r: WorkerResult, key: string) => Number(r.details?.[key] ?? Number.NaN);

/** Erases and writes of the boot that installed each image, or '' when no install was measured. */
export function flashTable(
  runs: readonly (
    | { readonly size: number; readonly install?: WorkerResult }
    | { readonly size: number; readonly skipped: string }
  )[],
): string {
  const lines = [
    '| Input | Firmware sectors | Staged sectors | Erases | Writes | Bytes read | Per MiB of firmware: erases, writes, MiB read | Most erases of one sector | Largest bootloader buffer |',
    '| --- | --: | --: | --: | --: | --: | --- | --: | --: |',
  ];
  for (const run of runs) {
    if ('skipped' in run || !run.install) continue;
    const r = run.install;
    const sector = detail(r, 'sectorSize');
    const staged = Math.ceil(detail(r, 'stagedBytes') / sector);
    const perMib = (n: number) => (n / (run.size / 1048576)).toFixed(n > 1e6 ? 2 : 0);
    const read = detail(r, 'bytesRead');
    lines.push(
      `| ${sizeLabel(run.size)} | ${grouped(Math.ceil(run.size / sector))} | ${grouped(staged)} | ${grouped(
        detail(r, 'erasures'),
      )} | ${grouped(detail(r, 'writes'))} | ${grouped(read)} | ${perMib(detail(r, 'erasures'))}, ${perMib(
        detail(r, 'writes'),
      )}, ${(read / run.size).toFixed(2)} | ${detail(r, 'mostErasesOfOneSector')} | ${grouped(detail(r, 'highWater'))} bytes |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

function corpusCell(size: number | null, original: number): string {
  return size === null ? 'n/a' : `${grouped(size)} (${percent(size, original)})`;
}

export function corpusTable(rows: readonly CorpusRow[]): string {
  const sum = (pick: (r: CorpusRow) => number | null) =>
    rows.some((r) => pick(r) === null) ? null : rows.reduce((total, r) => total + (pick(r) ?? 0), 0);
  const lines = [
    '| Build | Original | Filter | sihl Brotli | sihl payload, signed | sihl payload, encrypted | gzip -9 | Brotli q11, 64 KiB | xz -9e |',
    '| --- | --: | --- | --: | --: | --: | --: | --: | --: |',
  ];
  const line = (name: string, r: Omit<CorpusRow, 'name' | 'xz'> & { xz: number | null }) =>
    lines.push(
      `| ${name} | ${grouped(r.original)} | ${r.filter} | ${[
        r.compressed,
        r.payloadSigned,
        r.payloadEncrypted,
        r.gzip,
        r.brotli,
        r.xz,
      ]
        .map((size) => corpusCell(size, r.original))
        .join(' | ')} |`,
    );
  for (const r of rows) line(r.name, r);
  line('**total**', {
    original: sum((r) => r.original) ?? 0,
    filter: '',
    compressed: sum((r) => r.compressed) ?? 0,
    payloadSigned: sum((r) => r.payloadSigned) ?? 0,
    payloadEncrypted: sum((r) => r.payloadEncrypted) ?? 0,
    gzip: sum((r) => r.gzip) ?? 0,
    brotli: sum((r) => r.brotli) ?? 0,
    xz: sum((r) => r.xz),
  });
  return lines.join('\n');
}

/** One sentence comparing sihl's total with Brotli without a filter and with xz -9e. */
export function corpusSummary(rows: readonly CorpusRow[]): string {
  const total = (pick: (r: CorpusRow) => number) => rows.reduce((sum, r) => sum + pick(r), 0);
  const sihl = total((r) => r.compressed);
  const brotli = total((r) => r.brotli);
  const parts = [
    `sihl's compressed total is ${grouped(sihl)} bytes: ${(sihl / brotli).toFixed(3)}× plain Brotli q11 with the same window`,
  ];
  if (rows.every((r) => r.xz !== null)) {
    const xz = total((r) => r.xz ?? 0);
    parts.push(
      `${(sihl / xz).toFixed(3)}× xz -9e (${grouped(xz)} bytes, which can refer back across a whole build where sihl's window is 64 KiB)`,
    );
  } else {
    parts.push('xz was not found, so there is no xz -9e column');
  }
  return `${parts.join(', and ')}.`;
}

export function machineSection(m: Machine): string {
  return [
    `- CPU: ${m.cpu}, ${m.cores} logical cores`,
    `- Memory: ${(m.memory / 1024 ** 3).toFixed(1)} GiB`,
    `- OS: ${m.os}`,
    `- Node ${m.node}, Brotli ${m.brotli}${m.xz ? `, ${m.xz}` : ''}`,
    `- Date: ${m.date}`,
  ].join('\n');
}

export interface Report {
  readonly runs: readonly SizeRun[];
  readonly baseline: WorkerResult;
  readonly corpus: readonly CorpusRow[];
  readonly machine: Machine;
  readonly publish?: PublishRun;
  readonly serve?: ServeRun;
  readonly memory?: MemoryRun;
  readonly cloud?: CloudRun;
  readonly fleet?: FleetBenchRun;
}

/** Mirroring a publication to cloud stores on loopback (bench/cloud.ts). */
export function cloudSection(r: CloudRun): string {
  const rows = r.rows.map(
    (row) =>
      `| ${row.store} | ${row.what} | ${row.files} | ${(row.bytes / 1024 / 1024).toFixed(1)} MiB | ${row.seconds.toFixed(2)} s | ${(row.bytes / 1e6 / row.seconds).toFixed(0)} MB/s |`,
  );
  return [
    '## Publishing to cloud stores',
    '',
    `What \`release publish\` adds with a cloud store: mirroring the new files of its staging folder to the
store (src/storage/mirror.ts, uploads with If-None-Match: *), here Azurite and s3rver on loopback over
plain HTTP, each to a fresh prefix, median of three. The envelope tables are ${grouped(r.devices)} devices × 184 bytes;
the credential tables (a renewed log-table SAS per device, only with device logs in Azure Table
Storage) ${grouped(r.devices)} × 512 bytes. Emulators are not the services: these figures show sihl's own overhead
and ordering, not what a real account over the internet achieves.`,
    '',
    '| Store | Upload | Files | Size | Time | Rate |',
    '| --- | --- | --: | --: | --: | --: |',
    ...rows,
  ].join('\n');
}

/** Key envelopes for a whole fleet (bench/publish.ts): registry, raw sealing rate, publication, fetch. */
export function publishSection(r: PublishRun): string {
  const { registered, raw, published, small, http, load } = r;
  const rate = (n: number, s: number) => grouped(Math.round(n / s));
  const rawRate = raw.envelopes / raw.seconds;
  const slotRate = published.slots / published.seconds;
  const kib = (k: number) => `${(k / 1024).toFixed(0)} MiB`;
  const bytes = (text: string) => Buffer.byteLength(text, 'latin1');
  const filler = published.slots - published.sealed;
  return [
    `## Publishing envelopes for ${grouped(published.devices)} devices`,
    '',
    `One release's content key sealed to every device (\`publishEnvelopes\`, src/publisher/envelopes.ts):
${grouped(published.devices)} devices with random X25519 keys, one model, in a temporary node:sqlite
registry. The envelopes go into a hash table padded to a power of two (docs/FORMAT.md §Envelope tables):
${grouped(published.slots)} slots of 184 bytes, ${grouped(filler)} of them filler sealed to a throwaway key, cut into part
files of 65,536 slots, sealed by one worker thread per core. Registering, the raw rate and publishing
each run in a process of their own; the publishing process's peak RSS includes its sealing threads. The
raw rate is \`sealEnvelope\` in a loop on random keys in every thread at once (${grouped(raw.envelopes / raw.threads)} each),
nothing else. The machine may be shared: the 1-minute load average was ${load.before.toFixed(2)} before registering
and ${load.after.toFixed(2)} after publishing, on ${load.cores} cores.`,
    '',
    '| Measure | Result |',
    '| --- | --: |',
    `| Register (\`provisionMany\`, ${grouped(10_000)} a transaction: key checks, insert, fsync) | ${seconds(registered.seconds)} (${rate(registered.devices, registered.seconds)} devices/s) |`,
    `| Registry file | ${mib(registered.databaseBytes)} |`,
    `| Raw \`sealEnvelope\` rate, ${raw.threads} threads | ${rate(raw.envelopes, raw.seconds)} envelopes/s |`,
    `| **Publish** | **${seconds(published.seconds)}** |`,
    `| Slots sealed per second (envelopes and filler) | ${rate(published.slots, published.seconds)} |`,
    `| Devices' envelopes per second | ${rate(published.sealed, published.seconds)} |`,
    `| Slot rate beside the raw rate (goal ≥ 0.8) | ${(slotRate / rawRate).toFixed(2)} |`,
    `| CPU time of publishing (all threads) | ${seconds(published.cpuSeconds)} (${rate(published.slots, published.cpuSeconds)} slots per CPU-second) |`,
    `| Peak RSS of the publishing process | ${kib(published.maxRssKiB)} (${kib(small.maxRssKiB)} for ${grouped(small.devices)} devices) |`,
    `| Written | ${grouped(published.parts)} part file${published.parts === 1 ? '' : 's'}, ${mib(published.bytes)} (${mib(published.diskBytes)} on disk) |`,
    `| One range request (a bucket of 16 slots) | ${grouped(http.body)} bytes of envelopes + ${bytes(http.request)} request and ${bytes(http.response)} response header bytes |`,
    '',
    `Every device checked afterwards (${published.checked}: the first, the last and the others at random) found an
envelope addressed to it in one of its two candidate buckets. A device fetches one of them with one
range request, and the other with a second when the first does not hold its envelope; the header sizes
above are for one such minimal exchange (the last bucket of the table), before TLS (about 22 bytes per
record with TLS 1.3) and before whatever headers a CDN or object store adds (often a few hundred bytes):`,
    '',
    '```http',
    http.request.trimEnd(),
    '',
    http.response.trimEnd(),
    '```',
  ].join('\n');
}

export const FLASH_NOTE = `Flash work of the boot that installed the image (4 KiB sectors, 8-byte writes). A write is one program
operation of up to one sector. The device ran 1 MiB of old firmware, which is first copied to the
backup slot (256 erases and 256 writes per MiB of old firmware, read twice); each new firmware sector
is then erased, written once and read back; the staged image is read once, and its sectors erased once
installed (the first word of each read before, to see it is not erased); the other writes are records:
*backup*, *writing*, *installed* and *trial* in the boot-state log (and an erase whenever a record log
moves to its other sector). The counters move at confirmation, after this boot. Before format 2 (one
slot, a verify pass, a dry run, the install decode and a read-back) the same 16 MiB install erased
6,599 sectors, wrote 4,100 and read the staged image three times and the slot twice, about 4.7 MiB read
per MiB of firmware. The largest bootloader buffer is the bootloader's own measure
(\`BootReport.highWater\`): its largest single buffer, one stored chunk (chunk size + 17 + 32 bytes);
docs/BOOT.md §Working memory adds up everything it holds at once.`;

/** The tables and the machine, as printed on stdout. */
export function results(r: Report): string {
  const flash = flashTable(r.runs);
  return [
    '## Throughput and memory',
    '',
    throughputTable(r.runs),
    '',
    `Unpacked output matched the input (SHA-256) for every size measured, and so did every executable slot installed. A worker that loads sihl and does nothing peaks at ${rss(r.baseline)}; every peak RSS above includes it.`,
    '',
    ...(flash ? ['## Installing into simulated flash', '', flash, '', FLASH_NOTE, ''] : []),
    '## Compression of the Pybricks corpus',
    '',
    corpusTable(r.corpus),
    '',
    corpusSummary(r.corpus),
    '',
    ...(r.publish ? [publishSection(r.publish), ''] : []),
    ...(r.serve ? [serveSection(r.serve), ''] : []),
    ...(r.memory ? [memorySection(r.memory), ''] : []),
    ...(r.cloud ? [cloudSection(r.cloud), ''] : []),
    ...(r.fleet ? [fleetSection(r.fleet), ''] : []),
    '## Machine',
    '',
    machineSection(r.machine),
  ].join('\n');
}

const INTRO = `# Benchmarks

How fast sihl packs and unpacks firmware, how much memory it needs, and how small its payloads are.
Generated by \`npm run bench -- --write\` (bench/run.ts); edit the benchmark, not this file.

Each step runs in a child process of its own, so its peak RSS (\`process.resourceUsage().maxRSS\`) is
its alone; times are wall-clock times of the step inside that process, without Node's start-up. Steps
on inputs up to 64 MiB run three times and the run with the median time is shown. MB/s counts
millions of firmware (plaintext) bytes per second, whatever the step reads or writes.

- **Inputs** are "firmware-like": the seven Pybricks builds (@pybricks/firmware) one after another,
  over and over, with 16 bytes of each copy changed by a seeded generator, so every run sees the same
  bytes. Every build is larger than Brotli's 64 KiB window, so no copy can refer to the previous one.
  Files are written to the temporary folder first and are read from the page cache.
- **pack** is \`packImage\`: pick a branch filter on the first MiB, filter and compress with Brotli at the
  default quality (9 above 8 MiB) and a 64 KiB window, encrypt in 16 KiB chunks, sign by two approvers,
  fsync. Beside it, **Brotli compress alone** is node:zlib with the same quality and window
  (\`brotliCompressor\`) from the same file to a file, with no filter, hashing or encryption.
- **unpack** is what a device does: \`verifyImage\` (delegation, two signatures, the payload's chunk chain), open
  the key envelope, then \`unpackPayload\` (decrypt, check the window, decompress, undo the filter,
  check size and digest) into a file. Beside it, **Brotli decompress alone** decodes the compressor's
  output into a file too. **verify alone** is \`verifyImage\` by itself. **decode alone** is unpack
  without the file: its output is dropped.
- **install** is what the bootloader does at the first boot after an update was staged
  (docs/BOOT.md): a \`SimulatedDevice\` (flash in memory, 4 KiB sectors, 8-byte writes) running the
  first MiB of the input is given the image and a key envelope sealed to its own secure element, and
  only its \`boot()\` is timed. That boot verifies the image's signatures reading flash one sector at
  a time, opens the envelope inside the secure element, copies the old firmware (1 MiB) to the backup
  slot and proves it, then makes one pass over staging that authenticates each chunk by the chain,
  decrypts, decompresses and writes the executable slot sector by sector, reading each sector back as
  it is written (with the plaintext digest, the slot's proof), erases the staging slot and starts the new firmware on trial (the counters move at confirmation, after this
  boot). Before image format 2 the boot decoded twice and hashed the payload three times, and took
  3.1 to 3.3 times **decode alone**; **decode alone** (the row its time is set beside) now also
  authenticates every chunk and skips a separate chain walk. Its peak RSS includes the simulated flash
  (three slots, about 52 MiB for 16 MiB of firmware) and the staged image. Inputs above 64 MiB are not installed: the simulated
  flash would not fit in memory comfortably.
- **The corpus table** packs each Pybricks build with default options (quality 11, filter chosen
  automatically) signed-only and encrypted, and compares it with gzip -9, Brotli q11 with the same
  64 KiB window but no filter, and xz -9e. Percentages are of the original size.

\`--quick\` skips inputs above 16 MiB; \`SIHL_BENCH_SIZES=16M,256M,1G\` picks the input sizes. An input is
skipped when the temporary folder has less than four times its size free. \`--device\` runs only decode
alone and the install (inputs up to 64 MiB), and with \`--write\` replaces only their rows, the flash
table and the note on how they were measured.
`;

export function document(r: Report): string {
  return `${INTRO}\n${results(r)}\n`;
}
