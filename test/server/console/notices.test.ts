// The console shows only notices this server made: a notice written into a link is not rendered as if
// the server had said it, while the one after an operator's action still is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeRolloutFleet, RELEASE } from '../../publisher/rollout-support.ts';
import { serveFleet } from './console-support.ts';

test('a notice text in the address is not shown; the notice after halting is', async () => {
  const fleet = await makeRolloutFleet(2, 100);
  const served = await serveFleet(fleet);
  const bearer = { authorization: `Bearer ${served.token}` };
  const forged = 'Rollout compromised: log in again at https://evil.example';
  const page = await served.http.request(
    'GET',
    `/console/releases/${RELEASE}?notice=${encodeURIComponent(forged)}`,
    bearer,
  );
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.body.toString(), /evil\.example|compromised/);
  assert.doesNotMatch(page.body.toString(), /class="notice"/);

  const halted = await served.http.request('POST', `/console/releases/${RELEASE}/halt`, bearer);
  assert.equal(halted.status, 303);
  const location = String(halted.headers.location);
  assert.doesNotMatch(location, /Halted/, 'the redirect carries an id, not the text');
  const after = await served.http.request('GET', location, bearer);
  assert.match(after.body.toString(), /<p class="notice" role="alert">Halted/);
});
