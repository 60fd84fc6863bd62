// A workspace with a release ready for the gate, for the gate's tests.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { generateBoxKeyPair, generateSigningKeyPair } from '../../src/core/crypto/index.ts';
import { openRegistry } from '../../src/publisher/registry.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ok, ROOT_KEY } from '../support/cli.ts';
import { PYBRICKS, pybricksFirmware } from '../support/fixtures.ts';

export const WS = ['--workspace', 'acme'];

/** A workspace with alice and bob as targets keys, and the movehub firmware in fw.bin. */
export async function twoKeyWorkspace() {
  const cwd = await tempDir();
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  await writeFile(join(cwd, 'fw.bin'), firmware);
  await ok(cwd, [...INIT]);
  for (const name of ['alice', 'bob'])
    await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', name, ...ROOT_KEY, ...WS]);
  return { cwd, firmware };
}

/** A workspace with alice and bob, one registered movehub, and release movehub-1.0.0 approved by both. */
export async function approvedRelease(config: Record<string, unknown> = {}) {
  const { cwd, firmware } = await twoKeyWorkspace();
  const registry = openRegistry(join(cwd, 'acme', 'registry.db'));
  registry.provisionMany([
    {
      sign: generateSigningKeyPair().publicKey,
      box: generateBoxKeyPair().publicKey,
      model: 'movehub',
      owner: 'ACME',
      now: 1_700_000_000,
    },
  ]);
  registry.close();
  await editConfig(cwd, config);
  await ok(cwd, ['release', 'create', 'fw.bin', '--model', 'movehub', '--version', '1.0.0', ...WS]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', 'movehub-1.0.0', '--key', key, ...WS]);
  return { cwd, firmware, release: join(cwd, 'acme', 'releases', 'movehub-1.0.0') };
}

export async function editConfig(cwd: string, change: Record<string, unknown>): Promise<void> {
  const path = join(cwd, 'acme', 'sihl.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  await writeFile(path, JSON.stringify({ ...config, ...change }, null, 2));
}

/** Every file in the workspace's store, relative to it and sorted (TUF root 1 is there from `init`). */
export async function storeFiles(cwd: string): Promise<string[]> {
  const store = join(cwd, 'acme', 'store');
  const entries = await readdir(store, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(store, join(e.parentPath, e.name)))
    .sort();
}
