// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../../helpers.ts';

const worker = new URL('./memory-worker.ts', import.meta.url).pathname;

/** Firmware-like bytes: half pseudo-random, half structure, so compression has work to do. */
async function writeInput(path: string, mib: number): Promise<void> {
  const out = createWriteStream(path);
  const block = new Uint8Array(64 * 1024);
  let state = mib;
  for (let written = 0; written < mib * 1024 * 1024; written += block.length) {
    for (let i = 0; i < block.length; i += 2) {
      state = (state * 1103515245 + 12345) >>> 0;
      block[i] = state >>> 24;
      block[i + 1] = i & 0xff;
    }
    if (!out.write(block.slice())) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

async function peakRssMiB(path: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [worker, path]);
  return (JSON.parse(stdout) as { maxRssKiB: number }).maxRssKiB / 1024;
}

/** The larger image: 80 MiB in `npm test`, 160 MiB in `npm run test:slow` (SIHL_EXHAUSTIVE=1). */
const LARGE_MIB = process.env.SIHL_EXHAUSTIVE === '1' ? 160 : 80;

test('packing and unpacking use memory that does not grow with the image', async () => {
  const dir = await tempDir();
  const peaks: number[] = [];
  for (const mib of [16, LARGE_MIB]) {
    const input = join(dir, `firmware-${mib}.bin`);
    await writeInput(input, mib);
    peaks.push(await peakRssMiB(input));
    assert.equal(await sha256(`${input}.out`), await sha256(input), `${mib} MiB round-trips`);
  }
  const [small, large] = peaks as [number, number];
  assert.ok(
    large < 200,
    `peak RSS ${large.toFixed(0)} MiB for ${LARGE_MIB} MiB of firmware stays under 200 MiB`,
  );
  // Five or ten times the firmware: memory that followed the image would grow by 64 or 144 MiB.
  assert.ok(
    large - small < 32,
    `peak RSS grows by ${(large - small).toFixed(1)} MiB from 16 to ${LARGE_MIB} MiB`,
  );
});
