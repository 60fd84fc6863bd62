// The command line's entry: the version, the overview, and verbs that load only what they run, so a
// firmware pipeline calling sihl many times does not pay for every command's modules each time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { EXIT } from '../../src/cli/main.ts';
import { verbs } from '../../src/cli/verbs.ts';
import { tempDir } from '../helpers.ts';
import { makeTrustFiles, ok, PASSPHRASE, sihl } from '../support/cli.ts';

const BIN = new URL('../../bin/sihl.js', import.meta.url).pathname;
const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));

/** Prints each file the run loads to stderr, as `loaded URL`, through Node's module hooks. */
const TRACE = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
registerHooks({ resolve(s, c, next) { const r = next(s, c); process.stderr.write('loaded ' + r.url + '\\n'); return r; } });
`)}`;

async function loadedBy(cwd: string, args: string[]): Promise<string[]> {
  const { stderr } = await promisify(execFile)(process.execPath, ['--import', TRACE, BIN, ...args], {
    cwd,
    env: { ...process.env, SIHL_PASSPHRASE: PASSPHRASE },
  });
  const root = new URL('../../', import.meta.url).href;
  return [...stderr.matchAll(/^loaded (file:\S+)$/gm)].map((m) => (m[1] as string).replace(root, ''));
}

test('sihl --version and -V print the package version', async () => {
  for (const flag of ['--version', '-V']) {
    const r = await sihl('.', [flag]);
    assert.equal(r.code, EXIT.ok);
    assert.equal(r.out, `sihl ${version}\n`);
  }
  assert.deepEqual(JSON.parse((await sihl('.', ['--version', '--json'])).out), { version });
});

test('sihl with no arguments prints the overview; an unknown option or command is a usage error', async () => {
  const bare = await sihl('.', []);
  assert.equal(bare.code, EXIT.ok);
  assert.match(bare.out, /^Usage: sihl <command>/m);
  assert.equal(bare.err, '');
  const option = await sihl('.', ['--frobnicate']);
  assert.equal(option.code, EXIT.usage);
  assert.match(option.err, /unknown option "--frobnicate"/);
  const command = await sihl('.', ['image', 'squash']);
  assert.equal(command.code, EXIT.usage);
  assert.match(command.err, /unknown command "image squash"/);
});

test('the overview lists every verb with the summary its own help shows', async () => {
  const overview = (await sihl('.', ['--help'])).out;
  for (const verb of verbs) {
    const command = await verb.load();
    assert.deepEqual(command.path, verb.path);
    assert.equal(command.summary, verb.summary, `sihl ${verb.path.join(' ')}`);
    assert.ok(overview.includes(`${verb.path.join(' ').padEnd(20)} ${verb.summary}`));
  }
  assert.equal(new Set(verbs.map((v) => v.path.join(' '))).size, verbs.length, 'no verb twice');
});

test('sihl --version loads no command, and image verify loads only the core and its own command', async () => {
  const forVersion = await loadedBy('.', ['--version']);
  assert.ok(forVersion.includes('src/cli/main.ts'), 'the trace sees sihl');
  assert.deepEqual(
    forVersion.filter((f) => f.includes('/commands/') || f.includes('node_modules')),
    [],
  );

  const dir = await tempDir();
  await writeFile(join(dir, 'firmware.bin'), new Uint8Array(4096).fill(7));
  await makeTrustFiles(dir);
  const pack = ['image', 'pack', 'firmware.bin', '--model', 'm', '--version', '1.0.0'];
  await ok(dir, [...pack, '--delegation', 'approvers.dlg', '--key', 'alice.key']);
  await ok(dir, ['image', 'sign', 'firmware.bin.sihl', '--key', 'bob.key']);
  const forVerify = await loadedBy(dir, ['image', 'verify', 'firmware.bin.sihl', '--root', 'root.json']);
  const sources = forVerify.filter((f) => f.startsWith('src/'));
  assert.ok(sources.includes('src/cli/commands/image.ts'));
  const beyond = sources.filter((f) => !f.startsWith('src/core/') && !f.startsWith('src/cli/'));
  assert.deepEqual(beyond, [], 'no publisher, server, storage or device module');
  assert.deepEqual(
    sources.filter((f) => f.startsWith('src/cli/commands/') && f !== 'src/cli/commands/image.ts'),
    [],
    'no other command',
  );
});
