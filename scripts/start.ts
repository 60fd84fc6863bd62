// `npm start`: the main job in one command, on the embedded defaults, told the way it runs for real.
// A release manager's workspace in a fresh folder; its root key written to a folder of its own (removable
// media in real life); two approvers, alice and bob, each with a key in a folder of their own that the
// release manager never sees, each approving in a process of their own with a secret of their own; 20
// simulated LEGO Move Hubs running Pybricks 7.27.0, provisioned; Pybricks 7.28.0 approved by both and
// published to 100 % of them with the online keys only; the online folder, holding no root or approver
// key, served by sihl's HTTPS server; the devices' update agents polling it, downloading into staging,
// rebooting through the bootloader (some lose power in the middle of their install) and reporting. Then
// the fleet as its signed reports show it. The server stops at the end unless --keep-serving is given.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../src/cli/commands/serve.ts';
import type { FleetRun } from '../src/cli/commands/sim-fleet.ts';
import { main } from '../src/cli/main.ts';
import type { FleetStatus } from '../src/publisher/fleet.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../test/support/fixtures.ts';

const HUB = 'movehub';
const RELEASE = `${HUB}-7.28.0`;
const DEVICES = 20;
/** Percent of the devices that lose power during their install. */
const POWER_CUT_PERCENT = '20';
const keep = process.argv.includes('--keep-serving');
const dir = await mkdtemp(join(tmpdir(), 'sihl-start-'));
const sihlBin = new URL('../bin/sihl.js', import.meta.url).pathname;

// Every key has a secret of its own, made here and held only in this process's memory (a real vendor
// keeps them in a password manager, a token PIN or files of mode 0600). Each command gets only the
// secrets of the keys it opens.
const secret = () => crypto.randomUUID();
const SECRET = {
  SIHL_PASSPHRASE_ROOT_1: secret(),
  SIHL_PASSPHRASE_ROLLOUT: secret(),
  SIHL_PASSPHRASE_SNAPSHOT: secret(),
  SIHL_PASSPHRASE_TIMESTAMP: secret(),
  SIHL_PASSPHRASE_MOVEHUB_7_28_0_CONTENT_KEY: secret(),
  SIHL_PASSPHRASE_ALICE: secret(),
  SIHL_PASSPHRASE_BOB: secret(),
};
type SecretName = keyof typeof SECRET;
const { SIHL_PASSPHRASE: _shared, ...base } = process.env;
const envWith = (...names: SecretName[]) => ({
  ...base,
  ...Object.fromEntries(names.map((name) => [name, SECRET[name]])),
});
const ROOT = envWith('SIHL_PASSPHRASE_ROOT_1');
const ONLINE = envWith(
  'SIHL_PASSPHRASE_ROLLOUT',
  'SIHL_PASSPHRASE_SNAPSHOT',
  'SIHL_PASSPHRASE_TIMESTAMP',
  'SIHL_PASSPHRASE_MOVEHUB_7_28_0_CONTENT_KEY',
);
const say = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const stamp = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;

/** The release manager's `sihl ARGS` in the demo folder, in this process; stops the demo on a failure. */
async function sihl(args: string[], env: Record<string, string | undefined>): Promise<string> {
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
  if (code !== 0) fail(`sihl ${args.join(' ')}`, code, err.join('\n') + out.join('\n'));
  return out.join('\n');
}

/** An approver's `sihl ARGS`: another process, in their own folder, with only their own secret. */
function approver(name: 'alice' | 'bob', args: string[]): void {
  const variable = name === 'alice' ? 'SIHL_PASSPHRASE_ALICE' : 'SIHL_PASSPHRASE_BOB';
  const run = spawnSync(process.execPath, [sihlBin, ...args], {
    cwd: join(dir, name),
    env: envWith(variable),
    encoding: 'utf8',
  });
  if (run.status !== 0) fail(`${name}: sihl ${args.join(' ')}`, run.status, run.stderr + run.stdout);
}

function fail(what: string, code: number | null, output: string): never {
  say(`${what} failed (exit ${code}):\n${output}`);
  process.exit(1);
}

const ws = ['--workspace', 'acme'];
say(
  `${stamp()}  workspace acme in ${dir}: the online rollout, snapshot and timestamp keys, TUF root version 1, a server certificate`,
);
say(
  `${stamp()}  the root key goes to offline-root/ (removable media in real life), never into the workspace`,
);
await sihl(
  ['init', 'acme', '--root-dir', 'offline-root'],
  envWith(
    'SIHL_PASSPHRASE_ROOT_1',
    'SIHL_PASSPHRASE_ROLLOUT',
    'SIHL_PASSPHRASE_SNAPSHOT',
    'SIHL_PASSPHRASE_TIMESTAMP',
  ),
);

say(
  `${stamp()}  alice and bob each make a key in a folder of their own; the workspace gets only the .pub files`,
);
for (const name of ['alice', 'bob'] as const) {
  await mkdir(join(dir, name));
  approver(name, ['keys', 'generate', '--name', name]);
  const add = ['keys', 'add', '--role', 'targets', '--name', name, '--public', `${name}/${name}.pub`];
  await sihl([...add, '--root-key', 'offline-root/root-1.key', ...ws], ROOT);
}

await writeFile(join(dir, 'pybricks-7.27.0.bin'), await pybricksFirmware(PYBRICKS_PREVIOUS, HUB));
await writeFile(join(dir, 'pybricks-7.28.0.bin'), await pybricksFirmware(PYBRICKS, HUB));
say(`${stamp()}  ${DEVICES} simulated ${HUB}s running Pybricks 7.27.0: keys made inside each, registered`);
const provision = [
  '--provision-only',
  '--model',
  HUB,
  '--firmware',
  'pybricks-7.27.0.bin',
  '--version',
  '7.27.0',
];
await sihl(['sim', 'fleet', '--devices', String(DEVICES), ...provision, ...ws], base);

say(`${stamp()}  release Pybricks 7.28.0: compressed, encrypted; an approval request for alice and bob`);
const create = ['release', 'create', 'pybricks-7.28.0.bin', '--model', HUB, '--version', '7.28.0'];
await sihl([...create, '--security-version', '1', ...ws], ONLINE);
await sihl(['release', 'request', RELEASE, '--out', 'request.json', ...ws], base);
say(`${stamp()}  alice and bob each sign the request where they are, in a process of their own`);
for (const name of ['alice', 'bob'] as const) {
  const note = `${name} reviewed Pybricks 7.28.0`;
  approver(name, [
    'release',
    'approve',
    '--request',
    '../request.json',
    '--key',
    `${name}.key`,
    '--note',
    note,
  ]);
}
const files = ['alice', 'bob'].map((name) => ['--approval', `${name}/${RELEASE}.${name}.approval.json`]);
await sihl(['release', 'add-approval', RELEASE, ...files.flat(), ...ws], base);
say(
  `${stamp()}  published to 100 % with the online keys only: TUF metadata signed, the content key sealed to each device`,
);
await sihl(['release', 'publish', RELEASE, '--rollout', '100', ...ws], ONLINE);

say(
  `${stamp()}  the online folder: the store, registry and logs, the online keys only (no root or approver key)`,
);
await sihl(['online', 'create', 'online', ...ws], base);
// `sihl serve` from it, in this process, with the online secrets only; it returns once it listens.
const server = await serve.run({ port: keep ? '8443' : '0', workspace: 'online' }, [], {
  cwd: dir,
  env: ONLINE,
});
say(`${stamp()}  sihl serve: ${server.url} (certificate SHA-256 ${server.fingerprint.slice(0, 16)}…)`);
say(
  `${stamp()}  the devices poll every 2 s, download, install at reboot (${POWER_CUT_PERCENT} % lose power during it), report`,
);
let run: FleetRun;
try {
  run = JSON.parse(
    await sihl(
      [
        'sim',
        'fleet',
        '--devices',
        String(DEVICES),
        '--server',
        `${server.url}/`,
        '--interval',
        '2',
        '--power-cut-rate',
        POWER_CUT_PERCENT,
        '--seed',
        '7',
        '--deadline',
        '120',
        '--json',
        ...ws,
      ],
      base,
    ),
  );
} catch (error) {
  await server.stop();
  throw error;
}
const status: FleetStatus = JSON.parse(await sihl(['fleet', 'status', '--json', ...ws], base));
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
