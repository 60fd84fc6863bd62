// Test set-up: temporary folders, a random device key pair, and the shared fixtures.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { generateBoxKeyPair } from '../src/core/crypto/index.ts';

export * from './support/fixtures.ts';

export const device = generateBoxKeyPair();

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sihl-test-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function writeTemp(dir: string, name: string, data: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}
