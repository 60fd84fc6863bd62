// `npm start`: one firmware update of a small simulated fleet, end to end, on the embedded defaults.
// A vendor with a root key and two approvers packs Pybricks 7.28.0 for the Technic Hub, both approve,
// each device gets the content key sealed to its own key, and eight devices running 7.27.0 install it:
// two lose power in the middle of the install, one is handed another device's envelope. The devices
// are saved under the folder printed at the end, for `sihl sim device inspect`.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeyPair, keyIdOf, sha256 } from '../src/core/crypto/index.ts';
import { toHex } from '../src/core/format/bytes.ts';
import {
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../src/core/format/delegation.ts';
import { sealEnvelope } from '../src/core/format/envelope.ts';
import { streamBinding } from '../src/core/format/manifest.ts';
import { signEntry } from '../src/core/format/signatures.ts';
import { packImage } from '../src/core/image/index.ts';
import { encodeRootFile } from '../src/core/keys.ts';
import { PowerCut } from '../src/device/flash/simulated-flash.ts';
import { SimulatedDevice } from '../src/device/simulator/simulated-device.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../test/support/fixtures.ts';

const HUB = 'technichub';
const DEVICES = 8;
const dir = await mkdtemp(join(tmpdir(), 'sihl-fleet-'));
const say = (line: string) => process.stderr.write(`${line}\n`);

say('vendor: root key, two approvers (alice, bob), delegation version 1, threshold 2');
const root = generateSigningKeyPair();
const approvers = [generateSigningKeyPair(), generateSigningKeyPair()];
const body = encodeDelegationBody({ version: 1, threshold: 2, keys: approvers.map((a) => a.publicKey) });
const delegation = encodeSignedDelegation(body, [
  signEntry(root.secretKey, root.publicKey, delegationMessage(body)),
]);
const rootKeys = { keys: [root.publicKey], threshold: 1 };
await writeFile(join(dir, 'root.json'), encodeRootFile(rootKeys));

const previous = await pybricksFirmware(PYBRICKS_PREVIOUS, HUB);
const current = await pybricksFirmware(PYBRICKS, HUB);
await writeFile(join(dir, 'firmware-7.28.0.bin'), current);
say(
  `release: Pybricks 7.28.0 for ${HUB} (${current.length} bytes), compressed, encrypted, signed by both approvers`,
);
const packed = await packImage(join(dir, 'firmware-7.28.0.bin'), join(dir, 'firmware-7.28.0.sihl'), {
  model: HUB,
  version: '7.28.0',
  securityVersion: 1,
  delegation,
  signers: approvers,
  encrypt: true,
});
const image = new Uint8Array(await readFile(join(dir, 'firmware-7.28.0.sihl')));
const binding = streamBinding(packed.manifestBytes);
say(`  image ${image.length} bytes (${((image.length / current.length) * 100).toFixed(1)}% of the firmware)`);

interface Row {
  device: string;
  before: string;
  boots: string[];
  after: string;
  attempts: number;
  operations: number;
  matches: boolean;
}
const rows: Row[] = [];
let firstBox: Uint8Array | undefined;
for (let n = 1; n <= DEVICES; n++) {
  const device = await SimulatedDevice.create({
    model: HUB,
    root: rootKeys,
    firmware: previous,
    version: '7.27.0',
  });
  const identity = device.secureElement.identity();
  firstBox ??= identity.box;
  // Device 8 is handed device 1's envelope, as a mix-up or an attack would.
  const recipient = n === DEVICES ? firstBox : identity.box;
  device.stage(image, sealEnvelope(packed.contentKey as Uint8Array, binding, recipient));
  const boots: string[] = [];
  const start = device.flash.operations;
  if (n === 3 || n === 6) {
    device.flash.cutPower({ after: n === 3 ? 40 : 95, tear: n === 6 });
    try {
      await device.boot();
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      boots.push(`power cut at op ${error.operation - start}`);
    }
    device.flash.powerOn();
  }
  const report = await device.boot();
  boots.push(
    report.outcome === 'rejected' ? `rejected: ${report.reason}` : report.installed ? 'installed' : 'booted',
  );
  rows.push({
    device: `device-${n} ${toHex(keyIdOf(identity.sign)).slice(0, 8)}`,
    before: '7.27.0',
    boots,
    after: report.running.version,
    attempts: report.attempts,
    operations: device.flash.operations - start,
    matches: toHex(sha256(device.executable(report.running.size))) === toHex(report.running.digest),
  });
  await device.save(join(dir, 'devices', `device-${n}`));
}
packed.contentKey?.fill(0);

const table = [
  ['device', 'before', 'what happened', 'after', 'attempts', 'flash ops', 'slot intact'],
  ...rows.map((r) => [
    r.device,
    r.before,
    r.boots.join(', then '),
    r.after,
    String(r.attempts),
    String(r.operations),
    r.matches ? 'yes' : 'NO',
  ]),
];
const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? [];
for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '));
const updated = rows.filter((r) => r.after === '7.28.0').length;
console.log(
  `\n${updated} of ${DEVICES} devices run 7.28.0; each runs exactly the image its boot state records.`,
);
console.log(`Devices are saved in ${join(dir, 'devices')}; look at one with:`);
console.log(`  npx sihl sim device inspect ${join(dir, 'devices', 'device-3')}`);
