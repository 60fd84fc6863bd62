// The package's JavaScript as `npm pack` builds it, run the way an installed package runs: by a Node that
// strips no types, from a folder with no src/, through bin/sihl.js.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../helpers.ts';
import { PASSPHRASE } from '../support/cli.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

test('the built package runs without type stripping: version, keys, pack, verify, and the console asset', async () => {
  const pkg = await tempDir();
  await run(process.execPath, [join(root, 'scripts', 'build.ts'), join(pkg, 'dist')]);
  await mkdir(join(pkg, 'bin'));
  await copyFile(join(root, 'bin', 'sihl.js'), join(pkg, 'bin', 'sihl.js'));
  await copyFile(join(root, 'package.json'), join(pkg, 'package.json'));
  await symlink(join(root, 'node_modules'), join(pkg, 'node_modules'));
  await readFile(join(pkg, 'dist', 'server', 'console', 'assets', 'console.css'));

  const work = await tempDir();
  const sihl = async (...args: string[]) =>
    (
      await run(process.execPath, ['--no-experimental-strip-types', join(pkg, 'bin', 'sihl.js'), ...args], {
        cwd: work,
        env: { ...process.env, SIHL_PASSPHRASE: PASSPHRASE },
      })
    ).stdout;
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.equal(await sihl('--version'), `sihl ${version}\n`);
  await writeFile(join(work, 'firmware.bin'), new Uint8Array(5000).fill(3));
  for (const name of ['root', 'alice', 'bob']) await sihl('keys', 'generate', '--name', name);
  await sihl('root', 'create', '--key', 'root.pub', '-o', 'root.json');
  const approvers = ['--approver', 'alice.pub', '--approver', 'bob.pub'];
  await sihl('delegation', 'create', '--root-key', 'root.key', ...approvers, '-o', 'delegation.dlg');
  const pack = ['image', 'pack', 'firmware.bin', '--model', 'm', '--version', '1.0.0', '--no-encrypt'];
  await sihl(...pack, '--delegation', 'delegation.dlg', '--key', 'alice.key');
  await sihl('image', 'sign', 'firmware.bin.sihl', '--key', 'bob.key');
  assert.match(
    await sihl('image', 'verify', 'firmware.bin.sihl', '--root', 'root.json'),
    /valid, signed by 2/,
  );
});
