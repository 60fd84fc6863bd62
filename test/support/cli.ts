// Running the CLI in-process in tests, as `sihl ARGS` in a folder, and the common trust set-up.
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.ts';

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

/** `sihl release approve MODEL-VERSION` by each approver, through `run`. */
export async function approveBy(
  run: (args: string[]) => Promise<unknown>,
  release: string,
  approvers: readonly string[],
  ws: readonly string[],
): Promise<void> {
  for (const key of approvers) await run(['release', 'approve', release, '--key', key, ...ws]);
}
