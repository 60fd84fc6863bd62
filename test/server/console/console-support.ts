// Console test set-up: sihl's own HTTPS server over a rollout fleet's workspace, with the console on
// and the server holding the passphrases (as `SIHL_PASSPHRASE=… sihl serve` does), and a headless
// Chromium through playwright-core.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
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

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  after(() => browser.close());
  return browser;
}

/** Screenshots are test artifacts: test-artifacts/ is git-ignored. */
export const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url);
