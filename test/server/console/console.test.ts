// The console in real headless Chromium during a rollout: an operator logs in, sees the chart and the
// device table, filters it, and halts the rollout from the release page; devices' credentials get
// nowhere near it.
// tag: slow (headless Chromium)
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readPublished, targetEntries } from '../../../src/publisher/published.ts';
import {
  makeRolloutFleet,
  pollOnce,
  RELEASE,
  readTargets,
  signedReport,
  TARGET,
} from '../../publisher/rollout-support.ts';
import { ok } from '../../support/cli.ts';
import { ARTIFACTS, launchChromium, serveFleet } from './console-support.ts';

test('an operator logs in, finds the chart and the device table, and halts the rollout from the release page', async () => {
  const fleet = await makeRolloutFleet(40, 50);
  await ok(fleet.cwd, ['rollout', 'status', RELEASE, '--min-failures', '100', '--workspace', 'acme']);
  const served = await serveFleet(fleet);
  const targets = await readTargets(served.http);
  const outcomes = await Promise.all(
    fleet.devices.map((d) => pollOnce(served.http, d, targets, (x) => x.idx % 7 === 0)),
  );
  const installed = outcomes.filter((o) => o === 'installed').length;
  const failed = outcomes.filter((o) => o === 'failed').length;
  assert.ok(
    installed > 5 && installed + failed < 40,
    `a rollout under way: ${installed} installed, ${failed} failed`,
  );

  const browser = await launchChromium();
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1200, height: 900 },
  });
  const page = await context.newPage();
  await page.goto(`${served.server.url}/console`);
  assert.match(page.url(), /\/console\/login$/, 'no session: the login form');
  await page.fill('#token', 'not-the-token');
  await page.click('button[type=submit]');
  assert.equal(await page.getByRole('alert').textContent(), 'That is not the operator token.');
  await page.fill('#token', served.token);
  await page.click('button[type=submit]');
  assert.equal(await page.locator('h1').textContent(), 'Fleet overview');
  assert.equal(await page.locator('#rollout-chart svg polyline.installed').count(), 1, 'the rollout chart');
  assert.match(
    (await page.locator('#rollout-chart figcaption').textContent()) ?? '',
    new RegExp(`installed ${installed}`),
  );
  assert.match((await page.locator('#versions').textContent()) ?? '', /7\.28\.0/);

  await page.click('nav >> text=Devices');
  assert.equal(await page.locator('#devices tbody tr').count(), 40);
  await page.selectOption('select[name=status]', 'failed');
  await page.click('.filters button');
  assert.equal(Number(await page.locator('#device-total').textContent()), failed);
  assert.match((await page.locator('#devices tbody').textContent()) ?? '', /APP_CRASHED/);
  await page.locator('#devices tbody a').first().click();
  assert.match(
    (await page.locator('#history').textContent()) ?? '',
    /error.*movehub-7\.28\.0\.sihl.*APP_CRASHED/s,
  );

  await page.goto(`${served.server.url}/console/releases/${RELEASE}`);
  assert.match(
    (await page.locator('#counts').textContent()) ?? '',
    new RegExp(`${installed + failed} of the \\d+ devices offered this release reported`),
  );
  await page.click('button:has-text("Halt rollout")');
  assert.match((await page.locator('.notice').textContent()) ?? '', /Halted/);
  assert.match((await page.locator('#halt-reason').textContent()) ?? '', /Halted by an operator/);
  assert.equal(await page.locator('.badge').first().textContent(), 'halted');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: fileURLToPath(new URL('console-release-halted.png', ARTIFACTS)),
    fullPage: true,
  });

  const entry = targetEntries((await readPublished(fleet.workspace.storeDir)).targets).find(
    (e) => e.name === TARGET,
  );
  assert.equal(entry?.custom?.rollout, 0, 'new signed metadata withdrew the release');
  assert.equal(entry?.custom?.halted, true);
});

test('the console refuses devices and requests without a session, a CSRF token or the same origin', async () => {
  const fleet = await makeRolloutFleet(2, 100);
  const served = await serveFleet(fleet);
  const device = fleet.devices[0] as (typeof fleet.devices)[number];
  const report = signedReport(device, { running: '7.27.0', outcome: 'booted' });
  const { http } = served;
  // A device's only credential is its signature on a report: it opens nothing under /console.
  for (const path of [
    '/console/api/devices',
    `/console/api/releases/${RELEASE}/halt`,
    `/console/releases/${RELEASE}/halt`,
  ]) {
    const r = await http.post(path, report);
    assert.equal(r.status, 401, `POST ${path}`);
  }
  assert.equal((await http.get('/console/api/devices')).status, 401);
  const page = await http.get('/console');
  assert.equal(page.status, 303, 'a browser without a session goes to the login form');

  const login = await http.post('/console/login', Buffer.from(`token=${encodeURIComponent(served.token)}`), {
    'content-type': 'application/x-www-form-urlencoded',
  });
  assert.equal(login.status, 303);
  const bearer = { authorization: `Bearer ${served.token}` };
  const listed = await http.request('GET', '/console/api/devices?size=1', bearer);
  assert.equal(listed.status, 200);
  assert.equal(JSON.parse(listed.body.toString()).total, 2);
  const overview = await http.request('GET', '/console', bearer);
  assert.match(String(overview.headers['content-security-policy']), /default-src 'none'/);
  assert.doesNotMatch(overview.body.toString(), /<script/);

  // With a session cookie but no CSRF token, or from another origin, nothing changes.
  const session = String(login.headers['set-cookie']).split(';')[0] as string;
  const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: session };
  const noToken = await http.request(
    'POST',
    `/console/releases/${RELEASE}/halt`,
    form,
    Buffer.from('action=halt'),
  );
  assert.equal(noToken.status, 403);
  const foreign = await http.request(
    'POST',
    `/console/releases/${RELEASE}/halt`,
    { ...form, origin: 'https://evil.example' },
    Buffer.from('csrf=x'),
  );
  assert.equal(foreign.status, 403);

  // An action the console does not know is refused as such, never taken for another one.
  const before = (await readPublished(fleet.workspace.storeDir)).timestampVersion;
  for (const action of ['widen', 'Halt', 'advance-all']) {
    const unknown = await http.request('POST', `/console/api/releases/${RELEASE}/${action}`, bearer);
    assert.equal(unknown.status, 400, action);
    assert.match(unknown.body.toString(), /unknown action; one of halt, resume, advance/);
  }
  assert.equal((await readPublished(fleet.workspace.storeDir)).timestampVersion, before, 'nothing published');
  const entry = targetEntries((await readPublished(fleet.workspace.storeDir)).targets).find(
    (e) => e.name === TARGET,
  );
  assert.equal(entry?.custom?.halted, undefined, 'still offered');
});
