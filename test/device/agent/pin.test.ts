// A device that pins one certificate and meets another says so, without Node's advice about system CAs
// (which would not help: a device trusts only its pin).
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { makeServerCertificate } from '../../../src/core/crypto/certificate.ts';
import { PinnedClient } from '../../../src/device/agent/https-client.ts';

test('a pin mismatch is named as such, with a hint that fits it', async () => {
  const served = await makeServerCertificate();
  const pinned = await makeServerCertificate();
  const server = createServer({ key: served.key, cert: served.cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const client = new PinnedClient({ server: `https://127.0.0.1:${port}/`, certificate: pinned.cert });
    const refused = await client.get({ path: 'x', limit: 10 }).then(
      () => assert.fail('a certificate other than the pinned one was accepted'),
      (error: Error & { code: string }) => error,
    );
    assert.equal(refused.code, 'NETWORK_ERROR');
    assert.match(refused.message, /the server's certificate is not the pinned one/);
    assert.doesNotMatch(refused.message, /use-system-ca|root CA is installed/);
    const right = new PinnedClient({ server: `https://127.0.0.1:${port}/`, certificate: served.cert });
    assert.equal((await right.get({ path: 'x', limit: 10 })).status, 200);
  } finally {
    server.close();
  }
});
