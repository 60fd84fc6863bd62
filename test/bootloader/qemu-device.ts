// A device for the Cortex-M4 bootloader, made the way a user makes one: keys, root and delegation with
// sihl's CLI, a simulated device running Pybricks 7.27.0 (`sihl sim device create`), an update to 7.28.0
// signed by two approvers (`sihl image sign`) and staged with its key envelope (`sihl sim device stage`).
// Its flash.bin is the flash file QEMU boots. The packing itself is the library's packImage with no
// compression until the CLI offers a codec the C core decodes (the core decodes LZMA2, the CLI packs Brotli).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { packImage } from '../../src/core/image/pack.ts';
import { makeTrustFiles, ok } from '../support/cli.ts';
import { PYBRICKS, PYBRICKS_PREVIOUS, pybricksFirmware } from '../support/fixtures.ts';

export const MODEL = 'movehub';

export interface Device {
  readonly dir: string;
  /** The flash file: flash.bin of the simulated device. */
  readonly flash: string;
  readonly sectorSize: number;
  readonly writeSize: number;
  /** Words for the bootloader's command line: slot, staging and model. */
  readonly words: readonly string[];
  readonly executableOffset: number;
  readonly oldFirmware: Uint8Array;
  readonly newFirmware: Uint8Array;
  readonly imageBytes: number;
  readonly envelopeBytes: number;
}

export interface UpdateOptions {
  readonly encrypt: boolean;
  readonly chunkSize?: number;
  /** Approvers who sign the image (the delegation asks for two of alice and bob). */
  readonly signers?: readonly string[];
}

/** A device running 7.27.0 with 7.28.0 staged, in `dir`. */
export async function stagedDevice(dir: string, update: UpdateOptions): Promise<Device> {
  const oldFirmware = await pybricksFirmware(PYBRICKS_PREVIOUS, MODEL);
  const newFirmware = await pybricksFirmware(PYBRICKS, MODEL);
  await writeFile(join(dir, 'old.bin'), oldFirmware);
  await writeFile(join(dir, 'new.bin'), newFirmware);
  await makeTrustFiles(dir);
  await ok(dir, [
    ...['sim', 'device', 'create', 'hub', '--model', MODEL, '--root', 'root.json'],
    ...['--firmware', 'old.bin', '--version', '7.27.0'],
  ]);
  await ok(dir, ['sim', 'device', 'identity', 'hub', '-o', 'hub.pub']);
  const packed = await packImage(join(dir, 'new.bin'), join(dir, 'new.sihl'), {
    model: MODEL,
    version: '7.28.0',
    securityVersion: 3,
    delegation: new Uint8Array(await readFile(join(dir, 'approvers.dlg'))),
    encrypt: update.encrypt,
    compression: 'none',
    ...(update.chunkSize ? { chunkSize: update.chunkSize } : {}),
  });
  for (const signer of update.signers ?? ['alice', 'bob']) {
    await ok(dir, ['image', 'sign', 'new.sihl', '--key', `${signer}.key`]);
  }
  const stage = ['sim', 'device', 'stage', 'hub', 'new.sihl'];
  let envelopeBytes = 0;
  if (packed.contentKey) {
    const identity = JSON.parse(await readFile(join(dir, 'hub.pub'), 'utf8'));
    const box = new Uint8Array(Buffer.from(identity.box, 'base64'));
    if (box.length !== 32) throw new Error('hub.pub holds no X25519 public key');
    const envelope = sealEnvelope(packed.contentKey, streamBinding(packed.manifestBytes), box);
    await writeFile(join(dir, 'hub.env'), envelope);
    stage.push('--envelope', 'hub.env');
    envelopeBytes = envelope.length;
  }
  await ok(dir, stage);
  const description = JSON.parse(await readFile(join(dir, 'hub', 'device.json'), 'utf8'));
  const { geometry, layout } = description;
  return {
    dir,
    flash: join(dir, 'hub', 'flash.bin'),
    sectorSize: geometry.sectorSize,
    writeSize: geometry.writeSize,
    words: [`slot=${layout.executable.size}`, `staging=${layout.staging.size}`, `model=${MODEL}`],
    executableOffset: layout.executable.offset,
    oldFirmware,
    newFirmware,
    imageBytes: (await readFile(join(dir, 'new.sihl'))).length,
    envelopeBytes,
  };
}
