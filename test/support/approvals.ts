// The approval flow between people, for tests: the release manager writes a request in the workspace,
// each approver signs it in a `sihl` process of their own, in their own folder (approverHome), with only
// their own key and passphrase and no workspace; the release manager adds the approval files.
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { exists } from '../../src/core/fs.ts';
import { serveStore } from '../device/agent/support.ts';
import { approverEnv, approverHome, ok, PASSPHRASE, sihl, sihlProcess } from './cli.ts';

/** `sihl release request RELEASE` in `cwd`'s workspace; returns the request file (relative to `cwd`). */
export async function requestApprovals(cwd: string, release: string, ws: readonly string[]): Promise<string> {
  const file = `${release}.request.json`;
  await ok(cwd, ['release', 'request', release, '--out', file, '--force', ...ws]);
  return file;
}

/**
 * Approver `name` receives the request (and anything in `handed`, such as the image) into their folder
 * and runs `sihl release approve --request … --key KEY MORE…` there, as a process of their own. KEY is
 * their key file unless `more` names one. Returns the run and the approval file (relative to `cwd`).
 */
export async function approveAway(
  cwd: string,
  name: string,
  request: string,
  options: {
    readonly key?: string;
    readonly more?: readonly string[];
    readonly handed?: readonly string[];
    readonly env?: Record<string, string>;
  } = {},
) {
  const home = join(cwd, approverHome(name));
  for (const file of [request, ...(options.handed ?? [])])
    await copyFile(join(cwd, file), join(home, basename(file)));
  const out = `${basename(request).replace(/\.request\.json$/, '')}.${name}.approval.json`;
  const args = ['release', 'approve', '--request', basename(request), '--key', options.key ?? `${name}.key`];
  const run = await sihlProcess(home, [...args, '--out', out, '--force', ...(options.more ?? [])], {
    ...approverEnv(name),
    ...options.env,
  });
  return { ...run, file: join(approverHome(name), out) };
}

/**
 * `sihl release publish RELEASE` with no approver key in the workspace (publishing opens only the online
 * rollout, snapshot and timestamp keys); fails the test if an approver's private key is there.
 */
export async function publishWithoutApproverKeys(
  cwd: string,
  release: string,
  ws: readonly string[],
  keys: Readonly<Record<string, string>>,
  env: Record<string, string> = {},
) {
  const workspace = join(cwd, ws[1] as string);
  for (const name of Object.keys(keys)) {
    for (const kind of ['key', 'pkcs11'])
      assert.equal(await exists(join(workspace, 'keys', `${name}.${kind}`)), false, `${name}.${kind}`);
  }
  return sihl(cwd, ['release', 'publish', release, '--json', ...ws], { SIHL_PASSPHRASE: PASSPHRASE, ...env });
}

/** Asserts a `sihl` run was refused with error `code` and a message matching `pattern`. */
export function refusedRun(run: { code: number; err: string }, code: string, pattern: RegExp): void {
  assert.notEqual(run.code, 0, `expected ${code}, the run succeeded`);
  assert.ok(run.err.includes(`[${code}]`), run.err);
  assert.match(run.err, pattern);
}

/**
 * Device `device` of `cwd` polls `store` (served over HTTPS) once with `sihl sim device run --once`,
 * installing what it finds; returns the run's JSON.
 */
export async function installOnce(cwd: string, store: string, device: { dir: string; idx: number }) {
  const server = await serveStore(store);
  await writeFile(join(cwd, 'server.pem'), server.certificate);
  await ok(cwd, [
    ...['sim', 'device', 'configure', device.dir, '--server', server.url, '--certificate', 'server.pem'],
    ...['--root', join('acme', 'store', 'metadata', '1.root.json'), '--index', String(device.idx)],
  ]);
  return JSON.parse(await ok(cwd, ['sim', 'device', 'run', device.dir, '--once', '--json']));
}
