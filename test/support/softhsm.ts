// Debian's SoftHSM2 as a real PKCS#11 token for tests: a configuration and token folder of the test's
// own (SOFTHSM2_CONF points there, never at the machine's token store), one token initialised with
// softhsm2-util. Without softhsm2 the tests that need it skip with a message, unless SIHL_REQUIRE_SOFTHSM
// is set (.ci/run sets it after scripts/ci-deps.sh installed the package): then they fail.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers.ts';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const SOFTHSM_UTIL = '/usr/bin/softhsm2-util';

/** Why token tests cannot run here, or false when they can (and must). */
export function softHsmMissing(): string | false {
  if (existsSync(SOFTHSM_MODULE) && existsSync(SOFTHSM_UTIL)) return false;
  if (process.env.SIHL_REQUIRE_SOFTHSM) {
    throw new Error(`${SOFTHSM_MODULE} is missing: install Debian's softhsm2 (scripts/ci-deps.sh)`);
  }
  return `softhsm2 is not installed here (apt-get install softhsm2); .ci/run installs it and runs this test`;
}

export interface TestToken {
  readonly label: string;
  readonly pin: string;
  /** The PIN in a 0600 file, as pin-source or SIHL_PKCS11_PIN_FILE take it. */
  readonly pinFile: string;
  /** A reference to the key `object` on this token, with module-path and pin-source. */
  ref(object: string): string;
}

/**
 * A fresh token in a folder of its own. SoftHSM reads SOFTHSM2_CONF when the library initialises, so
 * this process's environment points at the test's configuration from here on.
 */
export async function softHsmToken(label = 'sihl-test'): Promise<TestToken> {
  const dir = await tempDir();
  const tokens = join(dir, 'tokens');
  await mkdir(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const pin = '246810';
  execFileSync(
    SOFTHSM_UTIL,
    ['--init-token', '--free', '--label', label, '--so-pin', '13579', '--pin', pin],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: 'ignore',
    },
  );
  const pinFile = join(dir, 'token.pin');
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });
  return {
    label,
    pin,
    pinFile,
    ref: (object) =>
      `pkcs11:token=${encodeURIComponent(label)};object=${encodeURIComponent(object)}` +
      `?module-path=${SOFTHSM_MODULE}&pin-source=${pinFile}`,
  };
}
