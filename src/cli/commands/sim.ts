// sihl sim device create | identity | stage | boot | inspect: a simulated device kept in a folder
// (device.json and flash.bin), driven the way the factory, the update agent and a power supply would.
import { join } from 'node:path';
import { keyIdOf } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { checkModel, checkVersion } from '../../core/format/manifest.ts';
import { exists, readSmallFile, writeFileAtomic } from '../../core/fs.ts';
import { encodePublicKeyFile } from '../../core/keys.ts';
import { PowerCut } from '../../device/flash/simulated-flash.ts';
import { bootWithC, cBootloader } from '../../device/simulator/c-bootloader.ts';
import { SimulatedDevice } from '../../device/simulator/simulated-device.ts';
import { type Command, integer, onePositional, optionalString, requireString } from '../command.ts';
import { loadRoot, pathIn, readInput } from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { describeState, identityOf, load, save, stateLines, wearOf } from './sim-support.ts';

/** The largest firmware `create` reads; a simulated flash is held in memory, about four times that. */
const FIRMWARE_MAX = 32 * 1024 * 1024;
const SLOT_MAX = 64 * 1024 * 1024;
/** The device's record logs hold 256- and 64-byte records: sectors hold whole records, records whole words. */
const RECORD_SECTOR_MULTIPLE = 256;
const WRITE_SIZES = [1, 2, 4, 8, 16, 32, 64];

const deviceDir = (positionals: string[], context: Parameters<Command['run']>[2]) =>
  pathIn(context, onePositional(positionals, 'DIR'));

interface CreateResult {
  device: string;
  model: string;
  id: string;
  version: string;
  firmwareSize: number;
  flashSize: number;
}

export const simDeviceCreate: Command<CreateResult> = {
  path: ['sim', 'device', 'create'],
  summary: 'Make a simulated device in a folder: its flash runs FIRMWARE; it makes its keys inside.',
  usage:
    'sim device create DIR --model M --root ROOT.json --firmware FILE [--version V] [--sector-size N] [--write-size N] [--slot-size N] [--force]',
  details: prose`
    Writes DIR/device.json (model, flash geometry, layout, wear) and DIR/flash.bin (the whole flash). The
    secure element pins ROOT's keys and makes the device's key pairs; \`sim device identity\` reads them.
    The running version is recorded as given, or "unknown". Slot size: by default twice the firmware, at
    least 1 MiB; the staging slot is one sector larger.
  `,
  options: optionLines(`
    --model M        device model, as images name it
    --root FILE      root trust file to pin (sihl root create)
    --firmware FILE  firmware the device runs from the factory
    --version V      version of that firmware (default unknown)
    --sector-size N  erase unit: a multiple of 256 (default 4096)
    --write-size N   write unit: 1, 2, 4, 8, 16, 32 or 64 (default 8)
    --slot-size N    largest firmware the device can hold, in bytes
    --force          replace a device already in DIR
  `),
  async run(values, positionals, context) {
    const dir = deviceDir(positionals, context);
    const model = checkModel(requireString(values, 'model'));
    const version = checkVersion(optionalString(values, 'version') ?? 'unknown');
    const sectorSize = integer(values, 'sector-size', 4096, RECORD_SECTOR_MULTIPLE, 1024 * 1024);
    if (sectorSize % RECORD_SECTOR_MULTIPLE !== 0)
      throw new SihlError('USAGE', `--sector-size must be a multiple of ${RECORD_SECTOR_MULTIPLE}`);
    const writeSize = integer(values, 'write-size', 8, 1, sectorSize);
    if (!WRITE_SIZES.includes(writeSize))
      throw new SihlError('USAGE', `--write-size must be one of ${WRITE_SIZES.join(', ')}`);
    const slotSize =
      values['slot-size'] === undefined ? undefined : integer(values, 'slot-size', 0, 1, SLOT_MAX);
    const description = join(dir, 'device.json');
    if (values.force !== true && (await exists(description))) {
      throw new SihlError('FILE_EXISTS', 'a device is already there; choose another folder or pass --force', {
        subject: description,
      });
    }
    const root = await loadRoot(context, requireString(values, 'root'));
    const firmwarePath = requireString(values, 'firmware');
    const firmware = await readInput(context, firmwarePath, slotSize ?? FIRMWARE_MAX);
    let device: SimulatedDevice;
    try {
      device = await SimulatedDevice.create({
        model,
        root,
        firmware,
        version,
        sectorSize,
        writeSize,
        ...(slotSize === undefined ? {} : { slotSize }),
      });
    } catch (error) {
      throw error instanceof SihlError ? error.about(firmwarePath) : error;
    }
    await save(device, dir);
    return {
      device: dir,
      model,
      id: identityOf(device).id,
      version,
      firmwareSize: firmware.length,
      flashSize: device.flash.geometry.size,
    };
  },
  render: (r) =>
    `made device ${r.id.slice(0, 16)}… (${r.model}) in ${r.device}\n` +
    `  running ${r.version}, ${r.firmwareSize} bytes; flash ${r.flashSize} bytes`,
};

interface IdentityResult {
  device: string;
  model: string;
  id: string;
  sign: string;
  box: string;
  publicKey: string | null;
}

export const simDeviceIdentity: Command<IdentityResult> = {
  path: ['sim', 'device', 'identity'],
  summary: "Read a device's public keys as the factory would, optionally into a device .pub file.",
  usage: 'sim device identity DIR [-o DEVICE.pub] [--force]',
  details: prose`
    sign is the Ed25519 key (status reports), box the X25519 key (key envelopes), both base64; id is the
    SHA-256 of the Ed25519 key in hex (the key id). -o writes a public key file for \`sihl envelope seal\`.
  `,
  options: optionLines(`
    -o, --output FILE  device public key file to write
    --force            replace an existing output file
  `),
  async run(values, positionals, context) {
    const dir = deviceDir(positionals, context);
    const device = await load(dir);
    const { id, sign, box, raw } = identityOf(device);
    const output = optionalString(values, 'output');
    const publicKey = output === undefined ? null : pathIn(context, output);
    if (publicKey) {
      const file = encodePublicKeyFile({ kind: 'device', name: id, ...raw });
      await writeFileAtomic(publicKey, file, { overwrite: values.force === true });
    }
    return { device: dir, model: device.model, id, sign, box, publicKey };
  },
  render: (r) =>
    [
      `device ${r.id} (${r.model})`,
      `  sign (Ed25519)  ${r.sign}`,
      `  box (X25519)    ${r.box}`,
      ...(r.publicKey ? [`  public key file ${r.publicKey}`] : []),
    ].join('\n'),
};

interface StageResult {
  device: string;
  image: string;
  imageSize: number;
  envelopeSize: number;
  phase: 'pending';
}

export const simDeviceStage: Command<StageResult> = {
  path: ['sim', 'device', 'stage'],
  summary: "Put an image (and its key envelope) into a device's staging slot and mark it pending.",
  usage: 'sim device stage DIR IMAGE [--envelope ENV]',
  details: prose`
    What the update agent does once a download is complete. Nothing is checked here: the next
    \`sim device boot\` verifies the image and installs or rejects it. The agent runs in booted firmware,
    so a device in the middle of an install (after a power cut) must be booted first.
  `,
  options: optionLines(`
    --envelope FILE  the image's key envelope for this device
  `),
  async run(values, positionals, context) {
    if (positionals.length !== 2)
      throw new SihlError('USAGE', `expected DIR and IMAGE, got ${positionals.length} argument(s)`);
    const dir = pathIn(context, positionals[0] as string);
    const imagePath = pathIn(context, positionals[1] as string);
    const device = await load(dir);
    const state = device.bootState();
    if (state && state.phase !== 'idle' && state.phase !== 'pending') {
      throw new SihlError('USAGE', `the device is ${state.phase}, not running; boot it first`, {
        subject: dir,
      });
    }
    const image = await readSmallFile(imagePath, device.layout.staging.size);
    const envelopePath = optionalString(values, 'envelope');
    const envelope = envelopePath ? await readInput(context, envelopePath, ENVELOPE_BYTES) : undefined;
    try {
      device.stage(image, envelope);
    } catch (error) {
      throw error instanceof SihlError
        ? error.about(error.code === 'LIMIT_EXCEEDED' ? imagePath : dir)
        : error;
    }
    await save(device, dir);
    return {
      device: dir,
      image: imagePath,
      imageSize: image.length,
      envelopeSize: envelope?.length ?? 0,
      phase: 'pending',
    };
  },
  render: (r) =>
    `staged ${r.image} (${r.imageSize} bytes${r.envelopeSize ? `, envelope ${r.envelopeSize} bytes` : ''}) ` +
    `in ${r.device}: pending until the next boot`,
};

interface BootResult {
  device: string;
  /** Which bootloader booted it: the TypeScript one or the C one (bootloader/). */
  bootloader: 'ts' | 'c';
  outcome: 'booted' | 'rejected' | 'reverted' | 'halted' | 'power-cut';
  version: string | null;
  size: number | null;
  sha256: string | null;
  intact: boolean;
  installed: boolean;
  /** The firmware runs on trial: without a confirmation, the next boot reverts it. */
  trial: boolean;
  confirmed: boolean;
  attempts: number;
  reason?: string;
  phase: string | null;
  operations: number;
  writes: number;
  erases: number;
}

export const simDeviceBoot: Command<BootResult> = {
  path: ['sim', 'device', 'boot'],
  summary: 'Power a device on once: the bootloader installs or rejects a pending image, then it runs.',
  usage: 'sim device boot DIR [--confirm] [--cut-after N [--tear]] [--bootloader ts|c]',
  details: prose`
    outcome is booted (the firmware runs; installed says whether a new image went in on this boot, trial
    that it runs on trial: with --confirm its self-test passes and it confirms itself, otherwise the next
    boot reverts it), reverted (a trial was not confirmed: the firmware from before runs again), halted
    (the executable slot is not what the boot state records: nothing starts),
    rejected (the pending image was refused for reason; the old firmware runs) or power-cut (power went
    after the N-th flash write or erase of this boot, if it needs that many; the flash is saved as the cut
    left it, and the next boot finishes the work). All three exit with 0: the outcome is in the output. version and sha256 are
    the running firmware's, as the boot state records it; intact says the executable slot matches sha256.
    operations, writes and erases count this boot only.
    --bootloader c boots with the C bootloader (bootloader/, docs/BOOTLOADER-C.md) instead of the
    TypeScript one, on the same flash file: its host program is built on demand with the machine's C
    compiler (bootloader/scripts/fetch-sources.sh fetches its libsodium and xz-embedded sources first);
    its flash operations are replayed through the simulated flash, so --cut-after and --tear cut it at
    the same operation and in the same way.
  `,
  options: optionLines(`
    --cut-after N      lose power after the N-th flash operation
    --tear             tear that operation (part written or erased) instead of completing it
    --confirm          the firmware on trial passes its self-test and confirms itself
    --bootloader ts|c  which bootloader boots the device (default ts)
  `),
  async run(values, positionals, context) {
    const dir = deviceDir(positionals, context);
    const cutAfter = values['cut-after'] === undefined ? undefined : integer(values, 'cut-after', 1, 1);
    if (values.tear === true && cutAfter === undefined)
      throw new SihlError('USAGE', '--tear needs --cut-after');
    const bootloader = optionalString(values, 'bootloader') ?? 'ts';
    if (bootloader !== 'ts' && bootloader !== 'c')
      throw new SihlError('USAGE', `--bootloader takes ts or c, not ${JSON.stringify(bootloader)}`);
    // Built (or found) before the flash is touched: a machine without a C compiler changes nothing.
    const binary = bootloader === 'c' ? await cBootloader() : undefined;
    const device = await load(dir);
    const { flash } = device;
    const before = { operations: flash.operations, writes: flash.writes, erasures: flash.erasures };
    if (cutAfter !== undefined) flash.cutPower({ after: cutAfter, tear: values.tear === true });
    let report: Omit<Awaited<ReturnType<SimulatedDevice['boot']>>, 'highWater'> | null = null;
    let confirmed = false;
    try {
      report = binary ? await bootWithC(device, { binary }) : await device.boot();
      if (report.trial && values.confirm === true) {
        device.confirm();
        confirmed = true;
      }
    } catch (error) {
      if (!(error instanceof PowerCut)) {
        flash.powerOn();
        await save(device, dir); // the flash keeps whatever the failed boot wrote, as a real one would
        throw error;
      }
    }
    flash.powerOn();
    await save(device, dir);
    const counts = {
      operations: flash.operations - before.operations,
      writes: flash.writes - before.writes,
      erases: flash.erasures - before.erasures,
    };
    const { bootState, intact } = describeState(device, device.bootState());
    const running = bootState?.running;
    return {
      device: dir,
      bootloader,
      outcome: report ? report.outcome : 'power-cut',
      version: running?.version ?? null,
      size: running?.size ?? null,
      sha256: running?.sha256 ?? null,
      intact,
      installed: report?.installed ?? false,
      trial: (report?.trial ?? false) && !confirmed,
      confirmed,
      attempts: report ? report.attempts : (bootState?.attempts ?? 0),
      ...(report?.reason ? { reason: report.reason } : {}),
      phase: bootState?.phase ?? null,
      ...counts,
    };
  },
  render: (r) => {
    const flashLine = `${r.operations} flash operations (${r.writes} writes, ${r.erases} erases)`;
    if (r.outcome === 'power-cut') {
      return `power cut after flash operation ${r.operations}, while ${r.phase ?? 'the boot state was unreadable'}; boot again to finish`;
    }
    const state = r.confirmed
      ? ', confirmed'
      : r.trial
        ? ', on trial: unconfirmed, the next boot reverts it'
        : '';
    const head =
      r.outcome === 'rejected'
        ? `rejected the update [${r.reason}]; running ${r.version}`
        : r.outcome === 'reverted'
          ? `REVERTED: the trial was not confirmed; running ${r.version} again`
          : r.outcome === 'halted'
            ? `halted: the executable slot is not ${r.version} as recorded; nothing starts`
            : `booted ${r.version}${r.installed ? ` (installed, attempt ${r.attempts}${state})` : state}`;
    return `${head}${r.intact ? '' : ' — the executable slot does not match!'}\n  ${flashLine}`;
  },
};

type InspectResult = {
  device: string;
  model: string;
  id: string;
  sign: string;
  box: string;
  geometry: { size: number; sectorSize: number; writeSize: number };
  layout: SimulatedDevice['layout'];
  secureElement: {
    securityCounter: number;
    delegationVersion: number;
    rootThreshold: number;
    rootKeyIds: string[];
  };
  wear: ReturnType<typeof wearOf>;
} & ReturnType<typeof describeState>;

export const simDeviceInspect: Command<InspectResult> = {
  path: ['sim', 'device', 'inspect'],
  summary: "Show a device's flash layout, boot state, secure element counters, identity and wear.",
  usage: 'sim device inspect DIR',
  details: 'wear gives, per region, the most erases of any one sector and the erases of all its sectors.',
  options: {},
  async run(_values, positionals, context) {
    const dir = deviceDir(positionals, context);
    const device = await load(dir);
    const { id, sign, box } = identityOf(device);
    const trust = device.secureElement.trust();
    return {
      device: dir,
      model: device.model,
      id,
      sign,
      box,
      geometry: { ...device.flash.geometry },
      layout: device.layout,
      ...describeState(device, device.bootState()),
      secureElement: {
        securityCounter: trust.securityCounter,
        delegationVersion: trust.delegationVersion,
        rootThreshold: trust.root.threshold,
        rootKeyIds: trust.root.keys.map((k) => toHex(keyIdOf(k))),
      },
      wear: wearOf(device),
    };
  },
  render: (r) => {
    const region = (name: keyof InspectResult['layout']) =>
      `${r.layout[name].offset}+${r.layout[name].size}, erases max ${r.wear[name].max} total ${r.wear[name].total}`;
    return [
      `device            ${r.id} (${r.model})`,
      `flash             ${r.geometry.size} bytes, ${r.geometry.sectorSize}-byte sectors, ${r.geometry.writeSize}-byte writes`,
      `boot state        ${region('bootState')}`,
      `secure element    ${region('secureElement')}`,
      `executable slot   ${region('executable')}`,
      `backup slot       ${region('backup')}`,
      `staging slot      ${region('staging')}`,
      ...stateLines(r),
      `counters          security ${r.secureElement.securityCounter}, delegation ${r.secureElement.delegationVersion}`,
      `root keys         ${r.secureElement.rootThreshold} of ${r.secureElement.rootKeyIds.map((k) => `${k.slice(0, 16)}…`).join(', ')}`,
    ].join('\n');
  },
};
