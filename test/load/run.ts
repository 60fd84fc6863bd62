// `npm run load`: 10,000 devices hold keep-alive TLS connections to `sihl serve` (its default limits), each
// polling with its ETag every 1 to 2 s, for 60 s once all are up (override with --connections N
// --seconds S), then to nginx (one worker) the same way: memory per connection (KiB above idle at 10, 30
// and 60 s) side by side (held.ts; bench/memory.ts adds Node's own HTTPS server and nginx in front of
// sihl and writes the figures into docs/BENCHMARKS.md). With --autocannon, also every connection polling
// flat out at once (poll-load.ts). Then a SIGKILL while 200 devices report. Prints the figures as JSON; exits 1 if a
// poll failed, the RSS grew by more than a quarter while the connections were held, or an acknowledged
// report was lost.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { heldConnections } from './held.ts';
import { crashWhileReporting, registerDevices, serveWorkspace, startServe, stop } from './load.ts';
import { startNginxBeside } from './nginx.ts';
import { pollLoad } from './poll-load.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '60' },
    autocannon: { type: 'boolean', default: false },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const dir = await mkdtemp(join(tmpdir(), 'sihl-load-'));
const print = (figures: object) => process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
let failed = false;
try {
  const ws = await serveWorkspace(join(dir, 'poll'));
  // The default connection limit: a fleet of 10,000 polling at once must fit without an option.
  const served = await startServe(ws);
  try {
    process.stderr.write(`load: sihl serve, ${connections} held connections for ${seconds} s\n`);
    const held = await heldConnections(served, connections, seconds);
    print({ sihl: held });
    failed ||= held.failed > 0 || held.rssEndMiB > held.rssAllUpMiB * 1.25;
    if (values.autocannon) {
      process.stderr.write(`load: sihl serve, autocannon, ${connections} connections for ${seconds} s\n`);
      const load = await pollLoad(served, connections, seconds);
      print({ load });
      failed ||= load.failed > 0;
    }
  } finally {
    await stop(served.child);
  }
  if (existsSync('/usr/sbin/nginx')) {
    const nginx = await startNginxBeside(ws, connections);
    try {
      process.stderr.write(`load: nginx, ${connections} held connections for ${seconds} s\n`);
      print({ nginx: await heldConnections(nginx, connections, seconds) });
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
  print({ crash: { ...crash, lost: crash.lost.length } });
  failed ||= crash.lost.length > 0;
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
