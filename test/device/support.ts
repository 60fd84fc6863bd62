// Shared set-up of the device tests: both Pybricks releases, packing firmware into images for a
// simulated device, a seeded random source, and byte comparisons that print something useful.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealEnvelope } from '../../src/core/format/envelope.ts';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { type PackOptions, packImage } from '../../src/core/image/index.ts';
import { ERASED } from '../../src/device/flash/flash.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { makeTrust, tempDir, writeTemp } from '../helpers.ts';

export const trust = makeTrust();

/** A failing run can be repeated from its seed. */
export { seeded } from '../../src/core/seeded.ts';
export { pybricksFirmware } from '../support/fixtures.ts';

import { firmwareLike } from '../support/fixtures.ts';

export function randomBytes(length: number, random: () => number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Firmware-like bytes: runs of noise between repeated instruction-like text, so they compress some. */
export function syntheticFirmware(size: number, seed: number): Uint8Array {
  const phrase = 'push {r4, lr}; bl memcpy; ldr r0, [pc, #12]; pop {r4, pc}; ';
  return firmwareLike(size, seed, phrase, (block) => block % 3 !== 0);
}

export interface Packed {
  readonly bytes: Uint8Array;
  readonly contentKey: Uint8Array | null;
  readonly manifestBytes: Uint8Array;
}

const dir = await tempDir();
let count = 0;

/** Packs `firmware` encrypted, signed by two approvers, at a quick quality unless told otherwise. */
export async function pack(firmware: Uint8Array, options: Partial<PackOptions> = {}): Promise<Packed> {
  const n = count++;
  const input = await writeTemp(dir, `firmware-${n}.bin`, firmware);
  const output = join(dir, `image-${n}.sihl`);
  const result = await packImage(input, output, {
    model: 'technichub',
    version: '7.28.0',
    securityVersion: 1,
    delegation: trust.delegation,
    signers: trust.approvers.slice(0, 2),
    encrypt: true,
    quality: 5,
    now: () => new Date(1_700_000_000_000),
    ...options,
  });
  return {
    bytes: new Uint8Array(await readFile(output)),
    contentKey: result.contentKey,
    manifestBytes: result.manifestBytes,
  };
}

/** The key envelope of `image` for `device` (null for a signed-only image). */
export function envelopeFor(device: SimulatedDevice, image: Packed): Uint8Array | undefined {
  if (!image.contentKey) return undefined;
  return sealEnvelope(
    image.contentKey,
    streamBinding(image.manifestBytes),
    device.secureElement.identity().box,
  );
}

/** Byte equality that reports where the arrays first differ instead of dumping them. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length === expected.length && Buffer.from(actual).equals(expected)) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(`${what}: differs at byte ${i} (lengths ${actual.length} and ${expected.length})`);
}

export function isErased(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === ERASED);
}

/** The staging slot reads as erased flash from start to end. */
export function assertStagingErased(device: SimulatedDevice): void {
  const { staging } = device.layout;
  assert.ok(isErased(device.flash.read(staging.offset, staging.size)), 'the staging slot is erased');
}

/** The model, old firmware and new firmware of the bootloader and trial tests. */
export const MODEL = 'test-hub';
export const OLD = syntheticFirmware(40_000, 1);
export const NEW = syntheticFirmware(45_000, 2);

/** A device of MODEL running OLD as `version`, with slots of `slotSize` bytes (the simulator's default unless told). */
export function deviceRunningOld(version: string, slotSize?: number): Promise<SimulatedDevice> {
  return SimulatedDevice.create({
    model: MODEL,
    root: trust.root,
    firmware: OLD,
    version,
    ...(slotSize === undefined ? {} : { slotSize }),
  });
}

/** Packs `firmware` for MODEL as `version` at security version 1, unless `options` say otherwise. */
export function packAs(
  version: string,
  firmware: Uint8Array,
  options: Partial<PackOptions> = {},
): Promise<Packed> {
  return pack(firmware, { model: MODEL, version, securityVersion: 1, ...options });
}
