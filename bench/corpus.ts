// How small sihl makes each Pybricks build with its default options, beside general-purpose compressors:
// gzip -9, Brotli at its best quality with the same 64 KiB window but no branch filter, and xz -9e.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { packImage } from '../src/core/image/index.ts';
import { benchTrust } from './keys.ts';

export interface CorpusRow {
  readonly name: string;
  readonly original: number;
  readonly filter: string;
  /** Brotli stream inside the image (manifest compression.compressedSize). */
  readonly compressed: number;
  /** Payload of a signed-only image and of an encrypted one (manifest payloadSize). */
  readonly payloadSigned: number;
  readonly payloadEncrypted: number;
  readonly gzip: number;
  readonly brotli: number;
  /** Null when no `xz` binary is on the PATH. */
  readonly xz: number | null;
}

function xzSize(data: Uint8Array): number | null {
  const run = spawnSync('xz', ['-9e', '-c'], { input: data, maxBuffer: 256 * 1024 * 1024 });
  if (run.error || run.status !== 0) return null;
  return run.stdout.length;
}

/** The first line of `xz --version`, or null without xz. */
export function xzVersion(): string | null {
  const run = spawnSync('xz', ['--version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return null;
  return run.stdout.split('\n')[0] ?? null;
}

export async function compareCorpus(
  corpus: ReadonlyMap<string, Uint8Array>,
  dir: string,
  log: (line: string) => void,
): Promise<CorpusRow[]> {
  const trust = benchTrust();
  const rows: CorpusRow[] = [];
  for (const [name, firmware] of corpus) {
    log(`corpus: ${name} (${firmware.length} bytes)`);
    const input = join(dir, `${name}.bin`);
    await writeFile(input, firmware);
    const packWith = async (encrypt: boolean) => {
      const output = join(dir, `${name}.${encrypt ? 'encrypted' : 'signed'}.sihl`);
      const result = await packImage(input, output, {
        model: name,
        version: '7.28.0',
        delegation: trust.delegation,
        signers: trust.approvers.slice(0, 2),
        encrypt,
      });
      result.contentKey?.fill(0);
      return result.manifest;
    };
    const signed = await packWith(false);
    const encrypted = await packWith(true);
    if (signed.compression.compressedSize !== encrypted.compression.compressedSize) {
      throw new Error(`${name}: the signed-only and encrypted images compress differently`);
    }
    rows.push({
      name,
      original: firmware.length,
      filter: signed.compression.filter,
      compressed: signed.compression.compressedSize,
      payloadSigned: signed.payloadSize,
      payloadEncrypted: encrypted.payloadSize,
      gzip: gzipSync(firmware, { level: 9 }).length,
      brotli: brotliCompressSync(firmware, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_LGWIN]: 16,
          [constants.BROTLI_PARAM_SIZE_HINT]: firmware.length,
        },
      }).length,
      xz: xzSize(firmware),
    });
  }
  return rows;
}
