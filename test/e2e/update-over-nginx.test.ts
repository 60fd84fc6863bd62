// A device updates through Debian's nginx in front of `sihl serve`: nginx serves the store from the
// configuration `sihl nginx-config` wrote (the certificate the device pins, ETags and 304s, ranges, no
// listings, no escapes) and passes the device's signed report on to sihl, which records it.
import assert from 'node:assert/strict';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { serve } from '../../src/cli/commands/serve.ts';
import { UpdateAgent } from '../../src/device/agent/agent.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { tempDir } from '../helpers.ts';
import { INIT, ok, PASSPHRASE, ROOT_KEY } from '../support/cli.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';
import { freePort, nginxMissing, startNginx } from '../support/nginx.ts';

const ws = ['--workspace', 'acme'];

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, ca: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A workspace with one movehub on 7.27.0 and 7.28.0 published for it. */
async function publishedFleet(cwd: string) {
  await writeFile(join(cwd, 'old.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, 'movehub'));
  const firmware = await pybricksFirmware(PYBRICKS, 'movehub');
  await writeFile(join(cwd, 'new.bin'), firmware);
  await ok(cwd, [...INIT]);
  for (const name of ['alice', 'bob'])
    await ok(cwd, ['keys', 'add', '--role', 'targets', '--name', name, ...ROOT_KEY, ...ws]);
  const create = ['sim', 'device', 'create', 'hub', '--model', 'movehub', '--root', 'acme/trust/root.json'];
  await ok(cwd, [...create, '--firmware', 'old.bin', '--version', '7.27.0']);
  await writeFile(join(cwd, 'hub.json'), await ok(cwd, ['sim', 'device', 'identity', 'hub', '--json']));
  const provision = ['device', 'provision', '--identity', 'hub.json', '--owner', 'ACME', '--json', ...ws];
  const { idx } = JSON.parse(await ok(cwd, provision));
  await ok(cwd, ['release', 'create', 'new.bin', '--model', 'movehub', '--version', '7.28.0', ...ws]);
  for (const key of ['alice', 'bob'])
    await ok(cwd, ['release', 'approve', 'movehub-7.28.0', '--key', key, ...ws]);
  await ok(cwd, ['release', 'publish', 'movehub-7.28.0', ...ws]);
  return { firmware, idx: idx as number };
}

const missing = nginxMissing();

test('a device updates 7.27.0 → 7.28.0 through nginx in front of sihl serve', { skip: missing }, async () => {
  const cwd = await tempDir();
  const { firmware, idx } = await publishedFleet(cwd);
  const [port, upstream] = [await freePort(), await freePort()];
  await ok(cwd, ['online', 'create', 'online', ...ws]);
  const server = await serve.run({ port: String(upstream), workspace: 'online' }, [], {
    cwd,
    env: { SIHL_PASSPHRASE: PASSPHRASE },
  });
  after(() => server.stop());
  const conf = join(cwd, 'nginx.conf');
  const config = ['nginx-config', '-o', conf, '--port', String(port), '--upstream-port', String(upstream)];
  // As root, nginx's workers would otherwise run as nobody, who cannot enter the test's private folder.
  const user = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  await ok(cwd, [...config, '--prefix', join(cwd, 'nginx'), '--workers', '1', ...user, ...ws]);
  await startNginx(conf, port);
  const url = `https://127.0.0.1:${port}`;
  const cert = await readFile(server.certificate, 'utf8');

  // The store as nginx serves it: sihl's caching rules, and nothing a device has no business reading.
  const poll = await get(`${url}/metadata/timestamp.json`, cert);
  assert.equal(poll.status, 200);
  assert.equal(poll.headers['content-type'], 'application/json');
  assert.equal(poll.headers['cache-control'], 'no-cache');
  const etag = String(poll.headers.etag);
  assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/, 'a strong ETag');
  assert.equal((await get(`${url}/metadata/timestamp.json`, cert, { 'if-none-match': etag })).status, 304);
  assert.equal(
    (await get(`${url}/metadata/1.root.json`, cert)).headers['cache-control'],
    'public, max-age=31536000, immutable',
  );
  const part = await get(`${url}/metadata/1.root.json`, cert, { range: 'bytes=0-9' });
  assert.deepEqual([part.status, part.body.length], [206, 10]);
  // A link planted in the store that points out of it is not followed.
  await symlink(join(cwd, 'acme', 'sihl.json'), join(cwd, 'acme', 'store', 'metadata', 'planted.json'));
  for (const path of [
    '/metadata/planted.json',
    '/',
    '/metadata/',
    '/targets/',
    '/%2e%2e/sihl.json',
    '/../sihl.json',
    '/metadata/.x.tmp',
  ]) {
    const r = await get(`${url}${path}`, cert);
    assert.ok([400, 403, 404].includes(r.status), `${path}: ${r.status}`);
    assert.doesNotMatch(r.body.toString(), /Index of|"sihl": "workspace"/, path);
  }
  assert.equal((await get(`${url}/console`, cert)).status, 303, 'the console is sihl’s, through nginx');

  const configure = ['sim', 'device', 'configure', 'hub', '--server', `${url}/`];
  await ok(cwd, [
    ...configure,
    '--certificate',
    server.certificate,
    '--root',
    'acme/store/metadata/1.root.json',
    '--index',
    String(idx),
  ]);
  const dir = join(cwd, 'hub');
  const sim = await SimulatedDevice.load(dir);
  const agent = await UpdateAgent.open({ dir, device: sim, durable: () => sim.save(dir) });
  after(() => agent.close());
  await agent.reportBoot(await sim.boot());
  assert.equal((await agent.poll()).outcome, 'staged');
  const installed = await sim.boot();
  assert.equal(installed.installed, true);
  await agent.reportBoot(installed);
  assert.deepEqual(sim.executable(firmware.length), firmware, 'the new firmware runs');

  // The report went through nginx to sihl, which recorded it.
  const status = JSON.parse(await ok(cwd, ['fleet', 'status', '--json', ...ws]));
  assert.deepEqual(
    status.devices.map((d: { running: string; lastOutcome: string }) => [d.running, d.lastOutcome]),
    [['7.28.0', 'installed']],
  );
});
