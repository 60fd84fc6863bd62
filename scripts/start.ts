// `npm start`: the main job in one command, on the embedded defaults. A vendor workspace in a fresh
// folder with two approvers; 20 simulated LEGO Move Hubs running Pybricks 7.27.0, provisioned; Pybricks
// 7.28.0 approved by both and published to 100 % of them; sihl's HTTPS server started; the devices'
// update agents polling it, downloading into staging, rebooting through the bootloader (some lose power
// in the middle of their install) and reporting. Then the fleet as its signed reports show it.
// The server stops at the end unless --keep-serving is given (then Ctrl-C stops it).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../src/cli/commands/serve.ts';
import type { FleetRun } from '../src/cli/commands/sim-fleet.ts';
import { main } from '../src/cli/main.ts';
import type { FleetStatus } from '../src/publisher/fleet.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../test/support/fixtures.ts';

const HUB = 'movehub';
const DEVICES = 20;
const POWER_CUT_RATE = '0.2';
const keep = process.argv.includes('--keep-serving');
const dir = await mkdtemp(join(tmpdir(), 'sihl-start-'));
// The demo's key files are locked with this passphrase; a real workspace asks for one per key.
const env = { ...process.env, SIHL_PASSPHRASE: 'npm start demo passphrase' };
const say = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const stamp = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;

/** `sihl ARGS` in the demo folder, in this process; stops the demo on a failure. */
async function sihl(args: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const progress = (label: string, done: number, total: number, unit?: string) => {
    if (process.stderr.isTTY)
      process.stderr.write(`\r        ${label} ${done} of ${total} ${unit ?? 'bytes'}`);
  };
  const code = await main(
    args,
    { out: (t) => out.push(t), err: (t) => err.push(t) },
    { cwd: dir, env, progress },
  );
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (code !== 0) {
    say(`sihl ${args.join(' ')} failed (exit ${code}):\n${err.join('\n')}${out.join('\n')}`);
    process.exit(1);
  }
  return out.join('\n');
}

const ws = ['--workspace', 'acme'];
say(
  `${stamp()}  workspace acme in ${dir}: the online rollout, snapshot and timestamp keys, TUF root version 1, a server certificate`,
);
say(
  `${stamp()}  the root key goes to offline-root/ (removable media in real life), never into the workspace`,
);
await sihl(['init', 'acme', '--root-dir', 'offline-root']);
say(`${stamp()}  two approvers, alice and bob; a release needs both; the root key signs them in`);
const root = ['--root-key', 'offline-root/root-1.key'];
await sihl(['keys', 'add', '--role', 'targets', '--name', 'alice', ...root, ...ws]);
await sihl(['keys', 'add', '--role', 'targets', '--name', 'bob', ...root, ...ws]);

await writeFile(join(dir, 'pybricks-7.27.0.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, HUB));
await writeFile(join(dir, 'pybricks-7.28.0.bin'), await pybricksFirmware(PYBRICKS, HUB));
say(`${stamp()}  ${DEVICES} simulated ${HUB}s running Pybricks 7.27.0: keys made inside each, registered`);
await sihl([
  'sim',
  'fleet',
  '--devices',
  String(DEVICES),
  '--provision-only',
  '--model',
  HUB,
  '--firmware',
  'pybricks-7.27.0.bin',
  '--version',
  '7.27.0',
  ...ws,
]);

say(`${stamp()}  release Pybricks 7.28.0: compressed, encrypted, approved by alice and bob`);
const create = ['release', 'create', 'pybricks-7.28.0.bin', '--model', HUB, '--version', '7.28.0'];
await sihl([...create, '--security-version', '1', ...ws]);
await sihl(['release', 'approve', `${HUB}-7.28.0`, '--key', 'alice', ...ws]);
await sihl(['release', 'approve', `${HUB}-7.28.0`, '--key', 'bob', ...ws]);
say(`${stamp()}  published to 100 %: TUF metadata signed, the content key sealed to each device`);
await sihl(['release', 'publish', `${HUB}-7.28.0`, '--rollout', '100', ...ws]);

say(
  `${stamp()}  the online folder: the store, registry and logs, the online keys only (no root or approver key)`,
);
await sihl(['online', 'create', 'online', ...ws]);
// `sihl serve` from it, in this process; it returns once it listens.
const server = await serve.run({ port: keep ? '8443' : '0', workspace: 'online' }, [], { cwd: dir, env });
say(`${stamp()}  sihl serve: ${server.url} (certificate SHA-256 ${server.fingerprint.slice(0, 16)}…)`);
say(
  `${stamp()}  the devices poll every 2 s, download, install at reboot (${Number(POWER_CUT_RATE) * 100} % lose power during it), report`,
);
let run: FleetRun;
try {
  run = JSON.parse(
    await sihl([
      'sim',
      'fleet',
      '--devices',
      String(DEVICES),
      '--server',
      `${server.url}/`,
      '--interval',
      '2',
      '--power-cut-rate',
      POWER_CUT_RATE,
      '--seed',
      '7',
      '--deadline',
      '120',
      '--json',
      ...ws,
    ]),
  );
} catch (error) {
  await server.stop();
  throw error;
}
const status: FleetStatus = JSON.parse(await sihl(['fleet', 'status', '--json', ...ws]));
say(`${stamp()}  done\n`);

const cut = new Set(run.devices.filter((d) => d.powerCut).map((d) => d.id));
const rows = [
  ['device', 'idx', 'running', 'last report', 'install attempts', 'power cut', 'reports'],
  ...status.devices.map((d) => [
    `${d.id.slice(0, 12)}…`,
    String(d.idx),
    d.running ?? '-',
    d.lastOutcome ?? '-',
    String(d.attempts ?? '-'),
    cut.has(d.id) ? 'yes' : '',
    String(d.reports),
  ]),
];
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
for (const row of rows)
  console.log(
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
const release = status.releases.find((r) => r.version === '7.28.0');
console.log(
  `\n${release?.running ?? 0} of ${DEVICES} devices run 7.28.0 (release ${release?.target ?? '?'}); ` +
    `${cut.size} lost power during their install and installed again.`,
);
console.log(
  `Time to 50 % ${(run.timeTo.p50 ?? Number.NaN) / 1000} s, 90 % ${(run.timeTo.p90 ?? Number.NaN) / 1000} s, ` +
    `100 % ${(run.timeTo.p100 ?? Number.NaN) / 1000} s; the server answered ${run.requests} requests.`,
);
console.log(`Workspace: ${join(dir, 'acme')}; see the fleet again with:`);
console.log(`  npx sihl fleet status --workspace ${join(dir, 'acme')}`);
if (keep) {
  console.log(`The server keeps serving at ${server.url} until Ctrl-C.`);
} else {
  await server.stop();
  console.log(
    `The server at ${server.url} is stopped; \`npm start -- --keep-serving\` keeps it up, or run\n` +
      `  npx sihl serve --workspace ${join(dir, 'online')}`,
  );
}
