// A device for the Cortex-M4 bootloader, made the way a user makes one with sihl's CLI: keys, root and
// delegation, a simulated device running Pybricks 7.27.0 (`sihl sim device create`), an update to 7.28.0
// packed (`sihl image pack`, LZMA2 by default here: the codec the C core decodes), signed by two
// approvers (`sihl image sign`), its key envelope sealed to the device (`sihl envelope seal`) and staged
// (`sihl sim device stage`). The device's flash.bin is the flash file QEMU boots.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  /** `image pack --compression` (lzma2 by default) and its dictionary (2^16 by default). */
  readonly compression?: 'lzma2' | 'none';
  readonly windowLog?: number;
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
  const compression = update.compression ?? 'lzma2';
  await ok(dir, [
    ...['image', 'pack', 'new.bin', '--model', MODEL, '--version', '7.28.0', '--security-version', '3'],
    ...['--delegation', 'approvers.dlg', '--compression', compression, '-o', 'new.sihl'],
    ...(compression === 'lzma2' ? ['--window-log', String(update.windowLog ?? 16)] : []),
    ...(update.encrypt ? [] : ['--no-encrypt']),
    ...(update.chunkSize ? ['--chunk-size', String(update.chunkSize)] : []),
  ]);
  for (const signer of update.signers ?? ['alice', 'bob']) {
    await ok(dir, ['image', 'sign', 'new.sihl', '--key', `${signer}.key`]);
  }
  const stage = ['sim', 'device', 'stage', 'hub', 'new.sihl'];
  if (update.encrypt) {
    await ok(dir, [
      ...['envelope', 'seal', '--content-key', 'new.sihl.content-key', '--device', 'hub.pub'],
      ...['--image', 'new.sihl', '-o', 'hub.env'],
    ]);
    stage.push('--envelope', 'hub.env');
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
    envelopeBytes: update.encrypt ? (await readFile(join(dir, 'hub.env'))).length : 0,
  };
}
