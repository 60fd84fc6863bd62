// Running the CLI in-process in tests, as `sihl ARGS` in a folder, and the common trust set-up.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from './fixtures.ts';

export const PASSPHRASE = 'correct horse battery staple';

const SIHL_BIN = new URL('../../bin/sihl.js', import.meta.url).pathname;

/**
 * Tests keep workspace `acme`'s root key in `offline/` beside it (removable media in real life): `sihl
 * init` refuses to put root private keys into the workspace, and root operations take them explicitly.
 */
export const ROOT_DIR = 'offline';
/** `sihl init acme --root-dir offline`, as arguments. */
export const INIT = ['init', 'acme', '--root-dir', ROOT_DIR] as const;
/** The root key a root operation is handed, as arguments. */
export const ROOT_KEY = ['--root-key', `${ROOT_DIR}/root-1.key`] as const;

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

export async function ok(cwd: string, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await sihl(cwd, args, env);
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

/** Root keys held by several custodians: root-N in folder custodian-N/, under its own passphrase. */
export interface RootCustody {
  readonly keys: number;
  readonly threshold: number;
}

export const custodianDir = (n: number) => `custodian-${n}`;

/** The environment of a process that knows custodian `n`'s passphrase and no other secret. */
export function custodianEnv(n: number): Record<string, string> {
  return { [`SIHL_PASSPHRASE_ROOT_${n}`]: `custodian ${n}'s own passphrase` };
}

/** `init` arguments, the `--root-key`s of a threshold, and the passphrases, for `custody` (default: offline/). */
export function custodyArgs(custody?: RootCustody) {
  if (!custody) return { init: ['--root-dir', ROOT_DIR], sign: [...ROOT_KEY], env: {} };
  const all = Array.from({ length: custody.keys }, (_, i) => i + 1);
  return {
    init: [
      ...['--root-keys', String(custody.keys), '--root-threshold', String(custody.threshold)],
      ...all.flatMap((n) => ['--root-dir', custodianDir(n)]),
    ],
    sign: all.slice(0, custody.threshold).flatMap((n) => ['--root-key', `${custodianDir(n)}/root-${n}.key`]),
    env: Object.assign({}, ...all.map(custodianEnv)) as Record<string, string>,
  };
}

/**
 * The default world's start in `cwd`: Pybricks 7.27.0 as old.bin and 7.28.0 as new.bin for a movehub,
 * a workspace `acme` and its approvers (alice and bob unless told), its root key in offline/ (or held by
 * custodians). Returns new.bin's bytes.
 */
export async function startWorkspace(
  cwd: string,
  approvers: readonly string[] = ['alice', 'bob'],
  approvals?: number,
  custody?: RootCustody,
) {
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  await writeFile(join(cwd, 'new.bin'), firmware);
  const root = custodyArgs(custody);
  const env = { SIHL_PASSPHRASE: PASSPHRASE, ...root.env };
  const more = approvals === undefined ? [] : ['--approvals', String(approvals)];
  await ok(cwd, ['init', 'acme', ...root.init, ...more], env);
  for (const name of approvers)
    await ok(
      cwd,
      ['keys', 'add', '--role', 'targets', '--name', name, ...root.sign, '--workspace', 'acme'],
      env,
    );
  return firmware;
}

/** `sihl ARGS` as a process of its own in `cwd`, with exactly `env` (and PATH): another person's machine. */
export function sihlProcess(
  cwd: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const test = process.env.SIHL_INSECURE_TEST_KDF
    ? { SIHL_INSECURE_TEST_KDF: process.env.SIHL_INSECURE_TEST_KDF }
    : {};
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SIHL_BIN, ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...test, ...env } },
      (error, out, err) => resolve({ code: error ? Number(error.code ?? 1) : 0, out, err }),
    );
  });
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
