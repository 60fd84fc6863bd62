// Flash and RAM per source file of a Cortex-M4 program, read from its GNU ld map: the input sections the
// linker kept (after --gc-sections), summed per object file or library member.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDir, type Variant } from '../test/bootloader/qemu-harness.ts';

/** What one object file (or archive member) brings into a linked program, in bytes. */
export interface ObjectSize {
  readonly file: string;
  readonly code: number;
  readonly rodata: number;
  readonly data: number;
  readonly bss: number;
}

/** Flash a file costs (code, constants and the initial values of data) and RAM (data and bss). */
export const flashOf = (o: ObjectSize) => o.code + o.rodata + o.data;
export const ramOf = (o: ObjectSize) => o.data + o.bss;

/** Reads a GNU ld map: the input sections kept in the output, summed per file. */
export function mapSizes(map: string): ObjectSize[] {
  const body = map.slice(map.indexOf('Linker script and memory map'));
  const sizes = new Map<string, { code: number; rodata: number; data: number; bss: number }>();
  let pending: string | undefined;
  for (const line of body.split('\n')) {
    // An input section: " .name 0xADDR 0xSIZE file", the name alone on its line when it is long.
    const whole = /^ (\.[^\s]+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.+)$/.exec(line);
    const tail = /^\s{16,}0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$/.exec(line);
    let name: string | undefined;
    let size = 0;
    let file = '';
    if (whole) {
      [name, size, file] = [whole[1], Number.parseInt(whole[3] ?? '0', 16), whole[4] ?? ''];
    } else if (tail && pending) {
      [name, size, file] = [pending, Number.parseInt(tail[2] ?? '0', 16), tail[3] ?? ''];
    }
    const alone = /^ (\.[^\s]+)$/.exec(line);
    pending = alone ? alone[1] : undefined;
    if (!name || size === 0 || name.startsWith('.debug') || name.startsWith('.ARM.attributes')) continue;
    if (name.startsWith('.comment') || name === '.stack') continue;
    const kind =
      name.startsWith('.text') || name === '.vectors' || name.startsWith('.glue')
        ? 'code'
        : name.startsWith('.rodata') || name.startsWith('.ARM.exidx')
          ? 'rodata'
          : name.startsWith('.data')
            ? 'data'
            : name.startsWith('.bss') || name === 'COMMON'
              ? 'bss'
              : undefined;
    if (!kind) continue;
    const entry = sizes.get(file) ?? { code: 0, rodata: 0, data: 0, bss: 0 };
    entry[kind] += size;
    sizes.set(file, entry);
  }
  return [...sizes].map(([file, s]) => ({ file: shortName(file), ...s }));
}

/** A file's name as the tables show it: relative to the bootloader folder, or the library member. */
function shortName(file: string): string {
  const member = /\/(lib[^/]+\.a)\((.+)\)$/.exec(file);
  if (member) return `${member[1]}(${member[2]})`;
  return file
    .replace(/^.*?\/board\//, 'targets/cortex-m4/')
    .replace(/^.*?\/sihl\//, '')
    .replace(/^.*?\/deps\/libsodium\/src\/libsodium\//, 'libsodium/')
    .replace(/^.*?\/deps\//, '')
    .replace(/\.o$/, '.c');
}

/** The group a file belongs to in the summary. */
export function groupOf(file: string): string {
  if (file.startsWith('libsodium/')) return 'libsodium';
  if (file.startsWith('xz-embedded/')) return 'xz-embedded (LZMA2 decoder)';
  if (/^core\/(boot|boot_state|install|slot_io|semver|record_log)\.c$/.test(file))
    return "boot flow (docs/BOOT.md, the core's sihl_boot)";
  if (/^(targets\/cortex-m4\/(nor-flash|ports)|ports\/flash_secure_element)\.c$/.test(file))
    return 'ports: NOR flash, secure element';
  if (file === 'targets/cortex-m4/boot.c') return "main and the core's work area";
  if (file.startsWith('targets/')) return 'board: start-up, semihosting, flash file';
  if (file.startsWith('lib')) return 'newlib and libgcc';
  return 'sihl core';
}

const grouped = (n: number) => n.toLocaleString('en-US');

/** Per-file table in the manner of the AWS OTA library's size_table.md. */
export function sizeTable(objects: readonly ObjectSize[]): string {
  const rows = [...objects]
    .filter((o) => flashOf(o) + ramOf(o) > 0)
    .sort((a, b) => groupOf(a.file).localeCompare(groupOf(b.file)) || flashOf(b) - flashOf(a));
  const total = rows.reduce((t, o) => ({ f: t.f + flashOf(o), r: t.r + ramOf(o) }), { f: 0, r: 0 });
  return [
    '| file | group | flash (code + rodata + data) | RAM (data + bss) |',
    '|---|---|---:|---:|',
    ...rows.map((o) => `| ${o.file} | ${groupOf(o.file)} | ${grouped(flashOf(o))} | ${grouped(ramOf(o))} |`),
    `| **total** | | **${grouped(total.f)}** | **${grouped(total.r)}** |`,
  ].join('\n');
}

/** The sizes in a built program's map. */
export async function linkedSizes(program: string, variant?: Variant): Promise<ObjectSize[]> {
  return mapSizes(await readFile(join(buildDir(variant), `${program}.map`), 'utf8'));
}
