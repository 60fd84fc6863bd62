// Benchmark inputs: the seven Pybricks firmware builds, and "firmware-like" files of any size made by
// repeating them with a few seeded mutations per copy, written in a stream so 1 GiB never sits in memory.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { seededWords } from '../src/core/seeded.ts';

/** Bytes changed in every copy of a build, so no two copies in the file are alike. */
const MUTATIONS_PER_COPY = 16;
const SEED = 0x5111_2024;

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done);
    done += bytesWritten;
  }
}

/**
 * Writes `size` bytes of the corpus builds, one after another, over and over; each copy has a few bytes
 * changed by a seeded generator. Returns the SHA-256 (hex) of what was written.
 */
export async function writeFirmwareLike(
  path: string,
  size: number,
  corpus: ReadonlyMap<string, Uint8Array>,
): Promise<string> {
  const builds = [...corpus.values()];
  if (builds.length === 0) throw new Error('the firmware corpus is empty');
  const random = seededWords(SEED);
  const hash = createHash('sha256');
  const handle = await open(path, 'wx', 0o600);
  try {
    let written = 0;
    for (let copy = 0; written < size; copy++) {
      const build = builds[copy % builds.length] as Uint8Array;
      const piece = build.slice(0, Math.min(build.length, size - written));
      for (let i = 0; i < MUTATIONS_PER_COPY; i++) {
        const at = random() % piece.length;
        piece[at] = (piece[at] as number) ^ (1 + (random() % 255));
      }
      hash.update(piece);
      await writeAll(handle, piece);
      written += piece.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** SHA-256 (hex) of a file, read as a stream. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk);
  return hash.digest('hex');
}
