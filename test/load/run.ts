// `npm run load`: 10,000 keep-alive connections poll `sihl serve` for 60 s (override with
// --connections N --seconds S), then nginx (one worker) under the same load, for memory per connection
// (KiB above idle at 10, 30 and 60 s) side by side, then a SIGKILL while 200 devices report. Prints the figures as JSON;
// exits 1 if a poll failed, the RSS grew by more than half, or an acknowledged report was lost.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crashWhileReporting, registerDevices, serveWorkspace, startServe, stop } from './load.ts';
import { startNginxBeside } from './nginx.ts';
import { pollLoad } from './poll-load.ts';

const { values } = parseArgs({
  options: { connections: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '60' } },
});
const dir = await mkdtemp(join(tmpdir(), 'sihl-load-'));
let failed = false;
try {
  const ws = await serveWorkspace(join(dir, 'poll'));
  const served = await startServe(ws, undefined, Number(values.connections) + 64);
  try {
    process.stderr.write(`load: ${values.connections} connections for ${values.seconds} s\n`);
    const load = await pollLoad(served, Number(values.connections), Number(values.seconds));
    process.stdout.write(`${JSON.stringify({ load }, null, 2)}\n`);
    // Memory grows while thousands of TLS connections come up; once they are all up it must stay flat.
    failed ||= load.failed > 0 || load.rssEndMiB > (load.rssAllUpMiB ?? load.rssHalfMiB) * 1.25;
  } finally {
    await stop(served.child);
  }
  // The same load on nginx (one worker), for memory per connection side by side.
  if (existsSync('/usr/sbin/nginx')) {
    const nginx = await startNginxBeside(ws, Number(values.connections));
    try {
      process.stderr.write(`load: nginx, ${values.connections} connections for ${values.seconds} s\n`);
      const load = await pollLoad(nginx, Number(values.connections), Number(values.seconds));
      process.stdout.write(`${JSON.stringify({ nginx: load }, null, 2)}\n`);
    } finally {
      await stop(nginx.child, 'SIGQUIT');
    }
  } else {
    process.stderr.write('load: nginx is not installed (scripts/ci-deps.sh): no comparison\n');
  }
  const crashWs = await serveWorkspace(join(dir, 'crash'));
  const elements = registerDevices(crashWs, 200);
  const crashed = await startServe(crashWs);
  const crash = await crashWhileReporting(crashWs, crashed, elements, 3000);
  process.stdout.write(`${JSON.stringify({ crash: { ...crash, lost: crash.lost.length } }, null, 2)}\n`);
  failed ||= crash.lost.length > 0;
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
