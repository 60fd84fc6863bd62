// Loading, saving and describing simulated devices for the `sihl sim device` commands.
import { join } from 'node:path';
import { keyIdOf, sha256 } from '../../core/crypto/index.ts';
import { naming } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import type { BootState } from '../../device/bootloader/boot-state.ts';
import type { Region } from '../../device/flash/flash.ts';
import { SimulatedDevice } from '../../device/simulator/simulated-device.ts';

/** Errors name device.json unless they already name a file (flash.bin). */
export async function load(dir: string): Promise<SimulatedDevice> {
  try {
    return await SimulatedDevice.load(dir);
  } catch (error) {
    throw naming(join(dir, 'device.json'), error);
  }
}

/** Saves the flash as it is; errors name the device folder. */
export async function save(device: SimulatedDevice, dir: string): Promise<void> {
  try {
    await device.save(dir);
  } catch (error) {
    throw naming(dir, error);
  }
}

export function identityOf(device: SimulatedDevice) {
  const { sign, box } = device.secureElement.identity();
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  // The id is the key id of the device's signing key: the full SHA-256, as `keyId` in .pub files.
  return { id: toHex(keyIdOf(sign)), sign: b64(sign), box: b64(box), raw: { sign, box } };
}

export function describeState(device: SimulatedDevice, state: BootState | null) {
  if (!state) return { bootState: null, intact: false };
  const { running } = state;
  const known = running.size > 0 && running.size <= device.layout.executable.size;
  return {
    bootState: {
      phase: state.phase,
      running: { version: running.version, size: running.size, sha256: known ? toHex(running.digest) : null },
      stagedImage: state.stagedImage,
      stagedEnvelope: state.stagedEnvelope,
      attempts: state.attempts,
      reason: state.reason,
    },
    // Whether the executable slot holds what the boot state says runs.
    intact: known && toHex(sha256(device.executable(running.size))) === toHex(running.digest),
  };
}

export function wearOf(device: SimulatedDevice) {
  const { erases, geometry } = device.flash;
  const region = ({ offset, size }: Region) => {
    const sectors = erases.subarray(offset / geometry.sectorSize, (offset + size) / geometry.sectorSize);
    return { max: Math.max(0, ...sectors), total: sectors.reduce((a, b) => a + b, 0) };
  };
  const { bootState, secureElement, executable, backup, staging } = device.layout;
  return {
    bootState: region(bootState),
    secureElement: region(secureElement),
    executable: region(executable),
    backup: region(backup),
    staging: region(staging),
  };
}

export function stateLines({ bootState: s, intact }: ReturnType<typeof describeState>): string[] {
  if (!s) return ['phase             unreadable (the next boot resets it)'];
  const running = `${s.running.version}, ${s.running.size} bytes, sha256 ${s.running.sha256 ?? 'unknown'}`;
  return [
    `phase             ${s.phase}${s.reason ? ` (last refusal ${s.reason})` : ''}${s.attempts ? `, ${s.attempts} install attempt(s)` : ''}`,
    `running           ${running}${intact ? '' : ' (the slot does not match)'}`,
    ...(s.stagedImage
      ? [`staged            ${s.stagedImage} bytes + envelope ${s.stagedEnvelope} bytes`]
      : []),
  ];
}
