// `sihl nginx-config`: a configuration nginx itself accepts, and no path that could inject nginx syntax.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { nginxConfig } from '../../src/server/nginx-config.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ok, sihl } from '../support/cli.ts';
import { NGINX, nginxMissing } from '../support/nginx.ts';

const base = {
  storeDir: '/srv/acme/store',
  certPath: '/srv/acme/tls/server.crt',
  keyPath: '/srv/acme/tls/server.key',
  host: '127.0.0.1',
  port: 8443,
  upstreamPort: 8444,
  prefix: '/srv/acme/nginx',
  workers: 1 as const,
};

test('a path that nginx would read as syntax is refused, naming it', () => {
  for (const storeDir of ['/srv/acme/store; include /etc/passwd', '/srv/a b', '/srv/{x}', '/srv/"q"']) {
    assert.throws(() => nginxConfig({ ...base, storeDir }), {
      code: 'USAGE',
      message: /the store folder ".*" has characters nginx would read as syntax/,
    });
  }
  const text = nginxConfig({ ...base, user: 'www-data', reportsPerSecond: 5 });
  assert.match(text, /^user www-data;$/m);
  assert.match(text, /root \/srv\/acme\/store;/);
  assert.match(text, /rate=5r\/s/);
  assert.match(text, /proxy_pass https:\/\/sihl;/);
});

test('nginx -t accepts the configuration sihl nginx-config writes', { skip: nginxMissing() }, async () => {
  const cwd = await tempDir();
  await ok(cwd, [...INIT]);
  const out = JSON.parse(
    await ok(cwd, ['nginx-config', '-o', 'site.conf', '--port', '9443', '--workspace', 'acme', '--json']),
  );
  assert.equal(out.config, join(cwd, 'site.conf'));
  assert.equal(out.url, 'https://127.0.0.1:9443');
  const text = await readFile(out.config, 'utf8');
  assert.match(text, new RegExp(`ssl_certificate ${join(cwd, 'acme', 'tls', 'server.crt')};`));
  const checked = spawnSync(NGINX, ['-t', '-c', out.config], { encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stderr);
  const missing = await sihl(cwd, ['nginx-config', '--workspace', 'acme']);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--output/);
});
