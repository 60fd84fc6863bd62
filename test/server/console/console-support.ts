// Console test set-up: sihl's own HTTPS server over a rollout fleet's workspace, with the console on
// and the server holding the passphrases (as `SIHL_PASSPHRASE=… sihl serve` does), and a headless
// Chromium (from npm) through playwright-core.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import packagedChromium from '@sparticuz/chromium';
import { type Browser, chromium } from 'playwright-core';
import type { Console } from '../../../src/server/console/console.ts';
import { type Http, https, type RolloutFleet } from '../../publisher/rollout-support.ts';
import { PASSPHRASE } from '../../support/cli.ts';
import { GENEROUS, type Served, serveWorkspace } from '../../support/server.ts';

export interface ServedFleet {
  readonly server: Served;
  readonly console: Console;
  readonly http: Http;
  readonly token: string;
  readonly cert: string;
  readonly events: { release: string; action: string; why: string }[];
}

/** The fleet's workspace served with the console on and the passphrases held, as `sihl serve` runs. */
export async function serveFleet(
  fleet: RolloutFleet,
  options: { checkDelayMs?: number } = {},
): Promise<ServedFleet> {
  const events: ServedFleet['events'] = [];
  const server = await serveWorkspace(fleet.workspace, {
    console: true,
    passphrases: async () => PASSPHRASE,
    checkDelayMs: options.checkDelayMs ?? 50,
    checkEveryMs: 0,
    onEvent: (e) => events.push(e),
    // One address speaks for the whole simulated fleet here.
    limits: { reportsPerAddress: GENEROUS },
  });
  const http = https(server.url, server.cert, 64);
  after(() => http.close());
  const token = (await readFile(join(fleet.workspace.dir, 'console', 'operator.token'), 'utf8')).trim();
  return { server, console: server.console as Console, http, token, cert: server.cert, events };
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
