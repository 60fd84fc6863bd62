// Running the CLI in-process in tests, as `sihl ARGS` in a folder, and the common trust set-up.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { keyVariable } from '../../src/cli/passphrase.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from './fixtures.ts';

export const PASSPHRASE = 'correct horse battery staple';

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

/** Variables of the test run that its `sihl` processes inherit (package.json's test scripts set them). */
const TEST_SWITCHES = [
  'SIHL_INSECURE_TEST_KDF', // key files made in microseconds
  'SIHL_TEST_QUICK_PACK', // images packed at Brotli quality 9
  'NODE_COMPILE_CACHE', // each process skips compiling what an earlier one compiled
] as const;

/** What a test's child process inherits besides what it is given: the switches of the test run. */
function testSwitches(): Record<string, string> {
  const set = TEST_SWITCHES.filter((name) => process.env[name] !== undefined);
  return Object.fromEntries(set.map((name) => [name, process.env[name] as string]));
}

const BIN = fileURLToPath(new URL('../../bin/sihl.js', import.meta.url));

/**
 * `sihl ARGS` as a process of its own in `cwd`, as a person at another machine would run it: its
 * environment is `env` and PATH only (and the test run's switches), nothing of the test's own secrets.
 */
export function sihlProcess(
  cwd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const full = { PATH: process.env.PATH ?? '', ...testSwitches(), ...env };
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: full }, (error, out, err) => {
      const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
      done({ code, out, err });
    });
  });
}

/** An approver's own key passphrase in tests, in their own variable (SIHL_PASSPHRASE_ALICE). */
export function approverEnv(name: string): Record<string, string> {
  return { [`SIHL_PASSPHRASE_${keyVariable(name)}`]: `${name}'s own passphrase` };
}

/** The folder of `cwd` where approver `name` keeps their key, outside any workspace. */
export const approverHome = (name: string) => `${name}-home`;

/**
 * Approver `name` makes their key in a folder of their own under their own passphrase; the workspace
 * gets only NAME.pub (`keys add --public`).
 */
export async function addApproverAway(
  cwd: string,
  name: string,
  ws: readonly string[],
  root: { sign: readonly string[]; env: Record<string, string> } = { sign: ROOT_KEY, env: {} },
): Promise<void> {
  const home = join(cwd, approverHome(name));
  await mkdir(home, { recursive: true });
  const made = await sihl(home, ['keys', 'generate', '--name', name], approverEnv(name));
  assert.equal(made.code, 0, made.err);
  const pub = join(approverHome(name), `${name}.pub`);
  const add = [...addApprover(name), '--public', pub, ...root.sign, ...ws];
  await ok(cwd, add, { SIHL_PASSPHRASE: PASSPHRASE, ...root.env });
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
  await ok(dir, delegationCreate('root.key'));
}

/** `sihl delegation create` of approvers alice and bob into approvers.dlg, signed by `rootKey`, as arguments. */
export function delegationCreate(rootKey: string): string[] {
  return [
    ...['delegation', 'create', '--root-key', rootKey],
    ...['--approver', 'alice.pub', '--approver', 'bob.pub', '-o', 'approvers.dlg'],
  ];
}

/** `sihl sim device create DIR` of a movehub pinning root.json and running old.bin, as arguments. */
export function simDeviceCreate(dir: string): string[] {
  return [
    'sim',
    'device',
    'create',
    dir,
    '--model',
    'movehub',
    '--root',
    'root.json',
    '--firmware',
    'old.bin',
  ];
}

/** `sihl keys add --role targets --name NAME`, as arguments: the start of adding a release approver. */
export function addApprover(name: string): string[] {
  return ['keys', 'add', '--role', 'targets', '--name', name];
}

/** `sihl release create FILE --model MODEL --version VERSION [--security-version SV]`, as arguments. */
export function releaseCreate(
  file: string,
  model: string,
  version: string,
  securityVersion?: string,
): string[] {
  const security = securityVersion === undefined ? [] : ['--security-version', securityVersion];
  return ['release', 'create', file, '--model', model, '--version', version, ...security];
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
 * a workspace `acme` and its approvers (alice and bob unless told; `away`: each with their key in a folder
 * of their own, the workspace holding only their public keys), its root key in offline/ (or held by
 * custodians). Returns new.bin's bytes.
 */
export async function startWorkspace(
  cwd: string,
  approvers: readonly string[] = ['alice', 'bob'],
  approvals?: number,
  away = false,
  custody?: RootCustody,
) {
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  await writeFile(join(cwd, 'new.bin'), firmware);
  const root = custodyArgs(custody);
  const env = { SIHL_PASSPHRASE: PASSPHRASE, ...root.env };
  const more = approvals === undefined ? [] : ['--approvals', String(approvals)];
  await ok(cwd, ['init', 'acme', ...root.init, ...more], env);
  for (const name of approvers) {
    if (away) await addApproverAway(cwd, name, ['--workspace', 'acme'], root);
    else {
      const add = ['keys', 'add', '--role', 'targets', '--name', name, ...root.sign, '--workspace', 'acme'];
      await ok(cwd, add, env);
    }
  }
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
