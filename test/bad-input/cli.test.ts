// Bad input to the CLI, one row per input: each gets a non-zero exit, an error that names the problem
// (and the file, where there is one), and leaves every file of the workspace folder as it was. One
// published workspace serves every row (rows that need a broken file make it in `arrange` and put it
// back in `restore`; the snapshot is taken after arrange and compared before restore).
// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT } from '../../src/cli/main.ts';
import { makeFleet } from '../device/agent/support.ts';
import { PASSPHRASE, ROOT_KEY, releaseCreate, sihl } from '../support/cli.ts';
import { pem } from '../support/fixtures.ts';
import { changes, fileHashes } from './support.ts';

const shared = makeFleet();
const WS = ['--workspace', 'acme'];
const OPENSSH = pem(
  'OPENSSH PRIVATE KEY',
  [
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
    'QyNTUxOQAAACDxZ0hOB1ZQ0mGZc8Zp0sc1gN9e3cSp0gc5QO8wYpu7iAAAAJgAAAAAAAAAAA',
  ].join('\n'),
);
const PEM = pem('PRIVATE KEY', 'MC4CAQAwBQYDK2VwBCIEIMFZ9N6v2t2hV0Xh6W5aVq8m3y8p4rJq5yQ7p2nX0b1c');

interface Row {
  readonly name: string;
  readonly args: string[];
  readonly env?: Record<string, string>;
  readonly code: number;
  readonly err: RegExp;
  /** Makes the bad input (before the snapshot). */
  readonly arrange?: (cwd: string) => Promise<void>;
  /** Puts things back (after the comparison). */
  readonly restore?: (cwd: string) => Promise<void>;
}

const image = 'acme/releases/movehub-7.28.0/image.sihl';
const sihlJson = (cwd: string) => join(cwd, 'acme', 'sihl.json');
let savedJson: Buffer | undefined;
const breakJson = (text: string) => async (cwd: string) => {
  savedJson = await readFile(sihlJson(cwd));
  await writeFile(sihlJson(cwd), text);
};
const restoreJson = async (cwd: string) => writeFile(sihlJson(cwd), savedJson as Buffer);
const put = (name: string, data: string | Uint8Array) => async (cwd: string) =>
  writeFile(join(cwd, name), data);
const remove = (name: string) => async (cwd: string) => rm(join(cwd, name), { force: true });

export const ROWS: Row[] = [
  {
    name: 'a missing image file',
    args: ['image', 'inspect', 'nope.sihl'],
    code: EXIT.usage,
    err: /nope\.sihl: no such file \[FILE_NOT_FOUND\]/,
  },
  {
    name: 'a missing firmware file for release create',
    args: ['release', 'create', 'gone.bin', '--model', 'movehub', '--version', '9.0.0', ...WS],
    code: EXIT.usage,
    err: /gone\.bin: no such file/,
  },
  {
    name: 'an empty firmware file',
    arrange: put('empty.bin', ''),
    restore: remove('empty.bin'),
    args: ['release', 'create', 'empty.bin', '--model', 'movehub', '--version', '9.0.0', ...WS],
    code: EXIT.usage,
    err: /empty\.bin: .*empty/i,
  },
  {
    name: 'a truncated image',
    arrange: async (cwd) => {
      const bytes = await readFile(join(cwd, image));
      await writeFile(join(cwd, 'half.sihl'), bytes.subarray(0, bytes.length >> 1));
    },
    restore: remove('half.sihl'),
    args: ['image', 'verify', 'half.sihl', '--root', 'acme/trust/root.json'],
    code: EXIT.refused,
    err: /half\.sihl: .*\[IMAGE_TRUNCATED\]/,
  },
  {
    name: 'an image with bytes appended',
    arrange: async (cwd) => {
      const bytes = await readFile(join(cwd, image));
      await writeFile(join(cwd, 'long.sihl'), Buffer.concat([bytes, Buffer.alloc(4096)]));
    },
    restore: remove('long.sihl'),
    args: ['image', 'verify', 'long.sihl', '--root', 'acme/trust/root.json'],
    code: EXIT.refused,
    err: /long\.sihl: image has 4096 bytes after its payload \[IMAGE_TRAILING_BYTES\]/,
  },
  {
    name: 'a text file given as an image',
    arrange: put('notes.sihl', 'these are notes, not an image; long enough to fill a header'),
    restore: remove('notes.sihl'),
    args: ['image', 'inspect', 'notes.sihl'],
    code: EXIT.refused,
    err: /notes\.sihl: .*\[IMAGE_BAD_MAGIC\]/,
  },
  {
    name: 'an oversized root trust file (64 MiB)',
    arrange: async (cwd) => {
      await writeFile(join(cwd, 'huge.json'), '');
      await truncate(join(cwd, 'huge.json'), 64 * 1024 * 1024);
    },
    restore: remove('huge.json'),
    args: ['image', 'verify', image, '--root', 'huge.json'],
    code: EXIT.refused,
    err: /huge\.json: file is larger than the limit of 65536 bytes \[LIMIT_EXCEEDED\]/,
  },
  {
    name: 'a wrong passphrase for an approver key',
    args: ['release', 'approve', 'movehub-7.28.0', '--key', 'alice', ...WS],
    env: { SIHL_PASSPHRASE: 'not the passphrase' },
    code: EXIT.usage,
    err: /alice\.key: wrong passphrase/,
  },
  {
    name: 'a wrong passphrase for the root key when adding an approver',
    args: ['keys', 'add', '--role', 'targets', '--name', 'carol', ...ROOT_KEY, ...WS],
    env: { SIHL_PASSPHRASE: 'not the passphrase' },
    code: EXIT.usage,
    err: /\.key: wrong passphrase/,
  },
  {
    name: 'a wrong passphrase for the timestamp key',
    args: ['timestamp', 'refresh', '--workspace', 'online'],
    env: { SIHL_PASSPHRASE: 'not the passphrase' },
    code: EXIT.usage,
    err: /timestamp\.key: wrong passphrase/,
    arrange: async (cwd) => {
      await sihl(cwd, ['online', 'create', 'online', ...WS]);
    },
    restore: async (cwd) => rm(join(cwd, 'online'), { recursive: true, force: true }),
  },
  {
    name: 'the timestamp job run from a workspace that holds approver and root keys',
    args: ['timestamp', 'refresh', ...WS],
    code: EXIT.usage,
    err: /keys\/alice\.key: .*online folder .*\[KEY_FILE_EXPOSED\]/,
  },
  {
    name: 'no passphrase at all and no terminal',
    args: ['release', 'approve', 'movehub-7.28.0', '--key', 'alice', ...WS],
    env: {},
    code: EXIT.usage,
    err: /SIHL_PASSPHRASE/,
  },
  {
    name: 'a request file given where an approval file is expected',
    arrange: put('alice.approval.json', '{"sihl": "approval-request", "version": 1}'),
    restore: remove('alice.approval.json'),
    args: ['release', 'add-approval', 'movehub-7.28.0', '--approval', 'alice.approval.json', ...WS],
    code: EXIT.refused,
    err: /alice\.approval\.json: expected a sihl approval file, found a sihl approval-request file \[APPROVAL_MALFORMED\]/,
  },
  {
    name: 'an oversized approval request (1 MiB)',
    arrange: async (cwd) => {
      await writeFile(join(cwd, 'huge.request.json'), '');
      await truncate(join(cwd, 'huge.request.json'), 1024 * 1024);
    },
    restore: remove('huge.request.json'),
    args: ['release', 'approve', '--request', 'huge.request.json', '--key', 'acme/keys/alice.key'],
    code: EXIT.refused,
    err: /huge\.request\.json: file is larger than the limit of 16384 bytes \[LIMIT_EXCEEDED\]/,
  },
  {
    name: 'an approver name that is not in the workspace',
    args: ['release', 'approve', 'movehub-7.28.0', '--key', 'mallory', ...WS],
    code: EXIT.usage,
    err: /mallory/,
  },
  {
    name: 'a key name that climbs out of the keys folder',
    args: ['keys', 'add', '--role', 'targets', '--name', '../../evil', ...ROOT_KEY, ...WS],
    code: EXIT.usage,
    err: /name/i,
  },
  {
    name: 'two approver keys in one process (image sign)',
    args: ['image', 'sign', image, '--key', 'acme/keys/alice.key', '--key', 'acme/keys/bob.key'],
    code: EXIT.usage,
    err: /--key was given more than once: one approver key per process/,
  },
  {
    name: 'an OpenSSH private key given as a signing key',
    arrange: put('id_ed25519', OPENSSH),
    restore: remove('id_ed25519'),
    args: ['image', 'sign', image, '--key', 'id_ed25519'],
    code: EXIT.usage,
    err: /id_ed25519: not a sihl private-key file \(it looks like a PEM key from another tool\)/,
  },
  {
    name: 'a PEM private key given as a signing key',
    arrange: put('key.pem', PEM),
    restore: remove('key.pem'),
    args: ['image', 'sign', image, '--key', 'key.pem'],
    code: EXIT.usage,
    err: /key\.pem: .*PEM/,
  },
  {
    name: 'a public key file given where a private key is needed',
    args: ['image', 'sign', image, '--key', 'acme/keys/alice.pub'],
    code: EXIT.usage,
    err: /alice\.pub: /,
  },
  {
    name: 'a device key file given as a signing key (wrong key type)',
    arrange: async (cwd) => {
      await mkdir(join(cwd, 'dev'), { recursive: true });
      const r = await sihl(cwd, ['keys', 'generate', '--name', 'd', '--kind', 'device', '--out', 'dev']);
      assert.equal(r.code, 0, r.err);
    },
    restore: async (cwd) => rm(join(cwd, 'dev'), { recursive: true, force: true }),
    args: ['image', 'sign', image, '--key', 'dev/d.key'],
    code: EXIT.usage,
    err: /d\.key: .*KEY_WRONG_KIND/,
  },
  {
    name: 'a truncated private key file',
    arrange: async (cwd) => {
      const bytes = await readFile(join(cwd, 'acme/keys/alice.key'));
      await writeFile(join(cwd, 'cut.key'), bytes.subarray(0, bytes.length >> 1));
    },
    restore: remove('cut.key'),
    args: ['image', 'sign', image, '--key', 'cut.key'],
    code: EXIT.usage,
    err: /cut\.key: /,
  },
  {
    name: 'a release for a model no device is registered for',
    arrange: async (cwd) => {
      const r = await sihl(cwd, [...releaseCreate('new.bin', 'cityhub', '1.0.0'), ...WS]);
      assert.equal(r.code, 0, r.err);
      for (const key of ['alice', 'bob'])
        assert.equal((await sihl(cwd, ['release', 'approve', 'cityhub-1.0.0', '--key', key, ...WS])).code, 0);
    },
    args: ['release', 'publish', 'cityhub-1.0.0', ...WS],
    code: EXIT.refused,
    err: /model-registered/,
  },
  {
    name: 'a device model that is not a valid name',
    args: [...releaseCreate('new.bin', 'move hub/../x', '9.0.0'), ...WS],
    code: EXIT.usage,
    err: /model/i,
  },
  {
    name: 'a release version that exists already',
    args: [...releaseCreate('new.bin', 'movehub', '7.28.0'), ...WS],
    code: EXIT.usage,
    err: /movehub-7\.28\.0/,
  },
  {
    name: 'publishing the same version twice',
    args: ['release', 'publish', 'movehub-7.28.0', ...WS],
    code: EXIT.refused,
    err: /version-rises/,
  },
  {
    name: 'a version that is not semantic versioning',
    args: [...releaseCreate('new.bin', 'movehub', 'v8-final!'), ...WS],
    code: EXIT.usage,
    err: /version/i,
  },
  {
    name: 'a rollout above 100 percent',
    args: ['release', 'publish', 'movehub-7.28.0', '--rollout', '150', ...WS],
    code: EXIT.usage,
    err: /rollout/i,
  },
  {
    name: 'a release that does not exist',
    args: ['release', 'approve', 'movehub-0.0.1', '--key', 'alice', ...WS],
    code: EXIT.usage,
    err: /movehub-0\.0\.1/,
  },
  {
    name: 'sihl.json that is not JSON',
    arrange: breakJson('{ "sihl": "workspace", '),
    restore: restoreJson,
    args: ['keys', 'list', ...WS],
    code: EXIT.usage,
    err: /sihl\.json: /,
  },
  {
    name: 'sihl.json with fields of the wrong type, every one named',
    arrange: breakJson('{"sihl":"workspace","version":1,"roles":{},"delegationVersion":-1,"store":7}\n'),
    restore: restoreJson,
    args: ['keys', 'list', ...WS],
    code: EXIT.usage,
    err: /sihl\.json: [\s\S]*delegationVersion[\s\S]*store/,
  },
  {
    name: 'a workspace folder without sihl.json',
    arrange: async (cwd) => {
      await mkdir(join(cwd, 'empty-ws'), { recursive: true });
    },
    restore: async (cwd) => rm(join(cwd, 'empty-ws'), { recursive: true, force: true }),
    args: ['keys', 'list', '--workspace', 'empty-ws'],
    code: EXIT.usage,
    err: /sihl\.json/,
  },
  {
    name: 'a device identity file that is not JSON',
    arrange: put('id.json', '{"sign": "zz'),
    restore: remove('id.json'),
    args: ['device', 'provision', '--identity', 'id.json', '--owner', 'ACME', ...WS],
    code: EXIT.usage,
    err: /id\.json: /,
  },
  {
    name: 'a device that is registered already',
    args: ['device', 'provision', '--identity', 'hub-1.json', '--owner', 'ACME', ...WS],
    code: EXIT.usage,
    err: /already registered/,
  },
  {
    name: 'revoking a device id that is not registered',
    args: ['device', 'revoke', 'ab'.repeat(32), ...WS],
    code: EXIT.usage,
    err: /abab/,
  },
  {
    name: 'an unknown role to rotate',
    args: ['keys', 'rotate', '--role', 'admin', ...WS],
    code: EXIT.usage,
    err: /role/i,
  },
  {
    name: 'an unknown option',
    args: ['release', 'publish', 'movehub-7.28.0', '--rollout-percent', '5', ...WS],
    code: EXIT.usage,
    err: /Usage: sihl release publish/,
  },
  {
    // The store folder cannot exist: its path runs through a regular file.
    name: 'a store that is not there when publishing',
    arrange: async (cwd) => {
      savedJson = await readFile(sihlJson(cwd));
      const config = JSON.parse(savedJson.toString('utf8'));
      await writeFile(join(cwd, 'acme', 'plain-file'), 'not a folder');
      await writeFile(
        sihlJson(cwd),
        `${JSON.stringify({ ...config, store: 'plain-file/store' }, null, 2)}\n`,
      );
    },
    restore: async (cwd) => {
      await restoreJson(cwd);
      await rm(join(cwd, 'acme', 'plain-file'));
    },
    args: ['release', 'publish', 'movehub-7.28.0', ...WS],
    code: EXIT.io,
    err: /plain-file/,
  },
];

for (const row of ROWS) {
  test(`bad input: ${row.name}`, async () => {
    const fleet = await shared;
    await row.arrange?.(fleet.cwd);
    const before = await fileHashes(fleet.cwd);
    const r = await sihl(fleet.cwd, row.args, row.env ?? { SIHL_PASSPHRASE: PASSPHRASE });
    const after = await fileHashes(fleet.cwd);
    try {
      assert.equal(r.code, row.code, `exit ${r.code}: ${r.err}${r.out}`);
      assert.match(r.err, row.err);
      assert.doesNotMatch(r.err, /at .*\.ts:\d+/, 'no stack trace');
      assert.deepEqual(changes(before, after), [], 'every file is as it was');
    } finally {
      await row.restore?.(fleet.cwd);
    }
  });
}

test('bad input: a full disk while publishing (the store on a tmpfs with 64 KiB free)', async (t) => {
  const fleet = await shared;
  const mount = join(fleet.cwd, 'tiny');
  await mkdir(mount, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount]);
  if (mounted.status !== 0) {
    t.skip(`cannot mount a tmpfs here: ${mounted.stderr}`);
    return;
  }
  const config = join(fleet.cwd, 'acme', 'sihl.json');
  const saved = await readFile(config);
  try {
    // The store, copied onto a disk with room for it and 64 KiB more: the next image does not fit.
    await cp(join(fleet.cwd, 'acme', 'store'), join(mount, 'store'), { recursive: true });
    const used = Number(spawnSync('du', ['-sb', mount]).stdout.toString().split('\t')[0]);
    spawnSync('mount', ['-o', `remount,size=${Math.ceil((used + 64 * 1024) / 4096) * 4096}`, mount]);
    const json = JSON.parse(saved.toString('utf8'));
    await writeFile(config, `${JSON.stringify({ ...json, store: `${mount}/store` }, null, 2)}\n`);
    const ws = ['--workspace', 'acme'];
    for (const args of [
      [...releaseCreate('new.bin', 'movehub', '7.30.0', '1'), ...ws],
      ['release', 'approve', 'movehub-7.30.0', '--key', 'alice', ...ws],
      ['release', 'approve', 'movehub-7.30.0', '--key', 'bob', ...ws],
    ])
      assert.equal((await sihl(fleet.cwd, args)).code, 0);
    const before = await fileHashes(fleet.cwd);
    const r = await sihl(fleet.cwd, ['release', 'publish', 'movehub-7.30.0', ...ws]);
    const after = await fileHashes(fleet.cwd);
    assert.equal(r.code, EXIT.io, r.err);
    assert.match(r.err, /ENOSPC|no space/i);
    assert.match(r.err, /tiny\/store/);
    assert.deepEqual(changes(before, after), [], 'nothing half-written is left, on the disk or off it');
  } finally {
    await writeFile(config, saved);
    spawnSync('umount', [mount]);
    await rm(join(fleet.cwd, 'acme', 'releases', 'movehub-7.30.0'), { recursive: true, force: true });
  }
});
