// Console test set-up: sihl's own HTTPS server over a rollout fleet's workspace, with the console on
// and the server holding the passphrases (as `SIHL_PASSPHRASE=… sihl serve` does), and a headless
// Chromium (from npm) through playwright-core.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import packagedChromium from '@sparticuz/chromium';
import { type Browser, chromium } from 'playwright-core';
import { makeServerCertificate } from '../../../src/core/crypto/certificate.ts';
import { logStorePath } from '../../../src/publisher/fleet.ts';
import { type Console, openConsole } from '../../../src/server/console/console.ts';
import { type RunningServer, startServer } from '../../../src/server/server.ts';
import { openSqliteLogStore } from '../../../src/storage/sqlite-log-store.ts';
import { type Http, https, type RolloutFleet } from '../../publisher/rollout-support.ts';
import { PASSPHRASE } from '../../support/cli.ts';

const certificate = makeServerCertificate({ days: 2 });

export interface Served {
  readonly server: RunningServer;
  readonly console: Console;
  readonly http: Http;
  readonly token: string;
  readonly cert: string;
  readonly events: { release: string; action: string; why: string }[];
}

export async function serveFleet(
  fleet: RolloutFleet,
  options: { checkDelayMs?: number } = {},
): Promise<Served> {
  const { key, cert } = await certificate;
  const logStore = openSqliteLogStore(logStorePath(fleet.workspace));
  const events: Served['events'] = [];
  const web = await openConsole({
    workspace: fleet.workspace,
    logStore,
    passphrases: async () => PASSPHRASE,
    checkDelayMs: options.checkDelayMs ?? 50,
    checkEveryMs: 0,
    onEvent: (e) => events.push(e),
  });
  const server = await startServer({
    storeDir: fleet.workspace.storeDir,
    registryPath: fleet.workspace.registryPath,
    logStore: web.logStore,
    console: web,
    key,
    cert,
    port: 0,
    // One address speaks for the whole simulated fleet here.
    limits: { reportsPerAddress: { burst: 100_000, perMinute: 1_000_000 } },
  });
  const http = https(server.url, cert, 64);
  after(async () => {
    http.close();
    await server.close();
    await web.close();
    await logStore.close();
  });
  const token = (await readFile(join(fleet.workspace.dir, 'console', 'operator.token'), 'utf8')).trim();
  return { server, console: web, http, token, cert, events };
}

const RELAXED = ['--disable-web-security', '--allow-running-insecure-content'];

/**
 * The browser comes from npm: @sparticuz/chromium ships a headless Chromium inside the package and
 * unpacks it to the temporary folder on first use, so `npm install` is the whole set-up.
 */
export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: await packagedChromium.executablePath(),
    args: [
      // The package's defaults relax the same-origin rules for serverless scraping; the console is tested
      // as a user's browser sees it.
      ...packagedChromium.args.filter((a) => !RELAXED.includes(a)),
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  after(() => browser.close());
  return browser;
}

/** Screenshots are test artifacts: test-artifacts/ is git-ignored. */
export const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url);
