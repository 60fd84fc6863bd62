// The C boot flow's Semantic Versioning (bootloader/core/semver.c, docs/BOOT.md
// §Install step 5) compiled for the host and held to src/core/format/semver.ts pair by pair: the
// grammar, precedence, unparsable versions on either side and the downgrade flag.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareSemver, parseSemver } from '../../src/core/format/semver.ts';
import { tempDir, writeTemp } from '../helpers.ts';
import { BOOTLOADER_DIR, run } from './c-host.ts';

const noCompiler = (await run('sh', ['-c', 'command -v cc'])).code !== 0;

const DRIVER = `#include <stdio.h>
#include "semver.h"
int main(int argc, char **argv) {
  for (int i = 1; i + 2 < argc; i += 3) printf("%d\\n", semver_rises(argv[i], argv[i + 1], argv[i + 2][0] == '1'));
  return 0;
}
`;

const VERSIONS = [
  '7.27.0',
  '7.28.0',
  '7.28.0-beta.1',
  '7.28.0-beta.2',
  '7.28.0-beta.10',
  '7.28.0-beta',
  '7.28.0-alpha',
  '7.28.0-alpha.1',
  '7.28.0-alpha.beta',
  '7.28.0-rc.1',
  '7.28.0+build.5',
  '7.28.0-rc.1+b',
  '1.0.0',
  '1.0.0-0',
  '1.0.0-a-b',
  '1.0.0--',
  '10.0.0',
  '9.99.99',
  '2.0.0',
  '1.5.0',
  '0.0.0',
  '007.1.0',
  '1.01.0',
  '1.0.01',
  '1.0',
  '1.0.0.0',
  'unknown',
  '',
  '1.0.0-',
  '1.0.0-01',
  '1.0.0-a..b',
  '1.0.0+',
  '1.0.0+a..b',
  '1.0.0-a.',
  '1.0.0+a+b',
  '1.0.0-0a',
  '1.0.0-00a',
  '99999999999999999999.0.0',
  '1.0.0 ',
  'v1.0.0',
];

/** BOOT.md §Install step 5 in TypeScript terms (src/device/bootloader/install.ts). */
function rises(running: string, next: string, downgrade: boolean): boolean {
  const now = parseSemver(running);
  if (now === undefined || downgrade) return true;
  const parsed = parseSemver(next);
  return parsed !== undefined && compareSemver(parsed, now) > 0;
}

test('semver.c orders versions as semver.ts does, for every pair of a list of valid and invalid ones', {
  skip: noCompiler && 'no C compiler on the PATH',
}, async () => {
  const dir = await tempDir();
  const driver = await writeTemp(dir, 'driver.c', DRIVER);
  const source = join(BOOTLOADER_DIR, 'core');
  const exe = join(dir, 'semver');
  const cc = await run('cc', [
    '-std=c99',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-I',
    source,
    driver,
    join(source, 'semver.c'),
    '-o',
    exe,
  ]);
  assert.equal(cc.code, 0, cc.stderr);
  const cases = VERSIONS.flatMap((a) =>
    VERSIONS.flatMap((b) => [
      [a, b, '0'],
      [a, b, '1'],
    ]),
  );
  const expected = cases.map(([a, b, d]) => (rises(a as string, b as string, d === '1') ? '1' : '0'));
  for (let i = 0; i < cases.length; i += 600) {
    const out = await run(exe, cases.slice(i, i + 600).flat());
    assert.equal(out.code, 0, out.stderr);
    const got = out.stdout.trim().split('\n');
    assert.equal(got.length, Math.min(600, cases.length - i), 'one answer per pair');
    got.forEach((value, k) => {
      const [a, b, d] = cases[i + k] as string[];
      assert.equal(
        value,
        expected[i + k],
        `running ${JSON.stringify(a)}, next ${JSON.stringify(b)}, downgrade ${d}`,
      );
    });
  }
});
