// Running the CLI in-process in tests, as `sihl ARGS` in a folder, and the common trust set-up.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from './fixtures.ts';

export const PASSPHRASE = 'correct horse battery staple';

/** Exit code and both outputs of one `sihl` run. */
export async function sihl(
  cwd: string,
  args: string[],
  env: Record<string, string> = { SIHL_PASSPHRASE: PASSPHRASE },
) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    args,
    { out: (t) => out.push(`${t}\n`), err: (t) => err.push(`${t}\n`) },
    { cwd, env },
  );
  return { code, out: out.join(''), err: err.join('') };
}

export async function ok(cwd: string, args: string[]): Promise<string> {
  const r = await sihl(cwd, args);
  assert.equal(r.code, 0, `sihl ${args.join(' ')} failed: ${r.err}${r.out}`);
  return r.out;
}

/** Keys root, alice and bob; root.json; approvers.dlg (alice and bob, threshold 2). */
export async function makeTrustFiles(dir: string): Promise<void> {
  for (const name of ['root', 'alice', 'bob']) await ok(dir, ['keys', 'generate', '--name', name]);
  await ok(dir, ['root', 'create', '--key', 'root.pub', '-o', 'root.json']);
  await ok(dir, [
    'delegation',
    'create',
    '--root-key',
    'root.key',
    '--approver',
    'alice.pub',
    '--approver',
    'bob.pub',
    '-o',
    'approvers.dlg',
  ]);
}

/** `sihl release create FILE --model MODEL --version VERSION --security-version SV`, as arguments. */
export function releaseCreate(
  file: string,
  model: string,
  version: string,
  securityVersion: string,
): string[] {
  return [
    'release',
    'create',
    file,
    '--model',
    model,
    '--version',
    version,
    '--security-version',
    securityVersion,
  ];
}

/**
 * `sihl image pack FILE --model MODEL --version VERSION --delegation approvers.dlg --level 5 MORE…`, as
 * arguments (level 5: quick to compress, as tests want).
 */
export function imagePack(
  file: string,
  model: string,
  version: string,
  more: readonly string[] = [],
): string[] {
  return [
    'image',
    'pack',
    file,
    '--model',
    model,
    '--version',
    version,
    '--delegation',
    'approvers.dlg',
    '--level',
    '5',
    ...more,
  ];
}

/** `sihl release approve MODEL-VERSION` by each approver, through `run`. */
export async function approveBy(
  run: (args: string[]) => Promise<unknown>,
  release: string,
  approvers: readonly string[],
  ws: readonly string[],
): Promise<void> {
  for (const key of approvers) await run(['release', 'approve', release, '--key', key, ...ws]);
}

/**
 * The default world's start in `cwd`: Pybricks 7.27.0 as old.bin and 7.28.0 as new.bin for a movehub,
 * a workspace `acme` and its approvers (alice and bob unless told). Returns new.bin's bytes.
 */
export async function startWorkspace(
  cwd: string,
  approvers: readonly string[] = ['alice', 'bob'],
  approvals?: number,
) {
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  await writeFile(join(cwd, 'new.bin'), firmware);
  await ok(cwd, ['init', 'acme', ...(approvals === undefined ? [] : ['--approvals', String(approvals)])]);
  for (const name of approvers)
    await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', name, '--workspace', 'acme']);
  return firmware;
}

/**
 * A simulated movehub in folder `dir` of `cwd`, running old.bin as 7.27.0 (unless told), provisioned into
 * workspace `acme` (its identity in DIR.json). Returns its registration.
 */
export async function provisionSimDevice(
  cwd: string,
  dir: string,
  owner = 'ACME',
  firmware = 'old.bin',
  version = '7.27.0',
): Promise<{ dir: string; idx: number; id: string }> {
  const create = ['sim', 'device', 'create', dir, '--model', 'movehub', '--root', 'acme/trust/root.json'];
  await ok(cwd, [...create, '--firmware', firmware, '--version', version]);
  await writeFile(join(cwd, `${dir}.json`), await ok(cwd, ['sim', 'device', 'identity', dir, '--json']));
  const provision = ['device', 'provision', '--identity', `${dir}.json`, '--owner', owner, '--json'];
  const d = JSON.parse(await ok(cwd, [...provision, '--workspace', 'acme']));
  return { dir, idx: d.idx, id: d.id };
}
