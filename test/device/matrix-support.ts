// What the power-cut and staging-tamper matrices share: a Pybricks 7.27.0 → 7.28.0 update staged on a
// device, signed-only or encrypted; a flash that lets an attacker on the staging chip's bus change what
// the bootloader reads; a witness of every write into the executable and backup slots; and the end
// every run must reach (old or new firmware, byte for byte, recorded as such).
// The quick sample runs in `npm test`; SIHL_EXHAUSTIVE=1 (`npm run test:slow`) runs every case.
import assert from 'node:assert/strict';
import { sha256 } from '../../src/core/crypto/hash.ts';
import { type BootReport, boot } from '../../src/device/bootloader/bootloader.ts';
import type { Flash, Region } from '../../src/device/flash/flash.ts';
import type { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { assertSameBytes, envelopeFor, pack, pybricksFirmware, trust } from './support.ts';

export const EXHAUSTIVE = process.env.SIHL_EXHAUSTIVE === '1';
export const HUB = 'technichub';
export const OLD = await pybricksFirmware('pybricks-firmware-previous', HUB);
export const NEW = await pybricksFirmware('@pybricks/firmware', HUB);

export type Kind = 'signed-only' | 'encrypted';
export const KINDS: readonly Kind[] = ['signed-only', 'encrypted'];

/**
 * A device running 7.27.0 with 7.28.0 staged and pending, one per kind of image; LZMA2 for the C
 * bootloader's differential run (test/bootloader/c-boot.test.ts), which decodes no Brotli.
 */
export async function pendingDevice(kind: Kind, compression?: 'lzma2'): Promise<SimulatedDevice> {
  const image = await pack(NEW, {
    model: HUB,
    version: '7.28.0',
    securityVersion: 1,
    encrypt: kind === 'encrypted',
    ...(compression ? { compression, filter: 'thumb' as const } : {}),
  });
  const device = await SimulatedDevice.create({
    model: HUB,
    root: trust.root,
    firmware: OLD,
    version: '7.27.0',
    sectorSize: 4096,
    writeSize: 8,
  });
  device.stage(image.bytes, envelopeFor(device, image));
  return device;
}

/** The points of 1..n a run visits: all of them when exhaustive, else the first, the last and every `step`-th. */
export function points(n: number, step: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i + 1);
  return EXHAUSTIVE ? all : all.filter((k) => k <= 2 || k >= n - 1 || k % step === 0);
}

const overlaps = (offset: number, length: number, r: Region) =>
  offset < r.offset + r.size && offset + length > r.offset;

/** The same slot's bytes of a firmware, padded with 0xFF to the end of the slot. */
function slotImage(firmware: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0xff);
  out.set(firmware);
  return out;
}

/**
 * A flash between the bootloader and the simulated chips: reads of staging can be changed by an
 * attacker (`tamper`), and every write into the executable or backup slot is checked against the only
 * bytes that may ever go there: the new firmware (authenticated) or the old one (a backup or a revert).
 */
export class WitnessFlash implements Flash {
  readonly inner: SimulatedFlash;
  readonly #device: SimulatedDevice;
  readonly #old: Uint8Array;
  readonly #new: Uint8Array;
  /** Reads of staging so far (reads of nothing are not counted). */
  stagingReads = 0;
  /** Called before each staging read returns, with its number (from 1): may change the bytes. */
  tamper: ((read: number, offset: number, bytes: Uint8Array) => void) | undefined;
  readonly violations: string[] = [];
  /** Staging reads before staging was first erased: the reads of the install itself. */
  installReads: number | undefined;

  constructor(device: SimulatedDevice) {
    this.inner = device.flash;
    this.#device = device;
    this.#old = slotImage(OLD, device.layout.executable.size);
    this.#new = slotImage(NEW, device.layout.executable.size);
  }

  get geometry() {
    return this.inner.geometry;
  }

  read(offset: number, length: number): Uint8Array {
    const bytes = this.inner.read(offset, length);
    if (length > 0 && overlaps(offset, length, this.#device.layout.staging)) {
      this.stagingReads++;
      this.tamper?.(this.stagingReads, offset, bytes);
    }
    return bytes;
  }

  write(offset: number, data: Uint8Array): void {
    const { executable, backup } = this.#device.layout;
    for (const [name, region, allowed] of [
      ['executable', executable, [this.#new, this.#old]],
      ['backup', backup, [this.#old]],
    ] as const) {
      if (!overlaps(offset, data.length, region)) continue;
      const at = offset - region.offset;
      const ok = allowed.some((f) => Buffer.compare(f.subarray(at, at + data.length), data) === 0);
      if (!ok) this.violations.push(`${data.length} bytes at ${name} + ${at} are neither firmware`);
    }
    this.inner.write(offset, data);
  }

  erase(offset: number): void {
    // The read just before the first erase of staging is the erase's own check that it is not erased.
    if (this.installReads === undefined && overlaps(offset, 1, this.#device.layout.staging))
      this.installReads = this.stagingReads - 1;
    this.inner.erase(offset);
  }
}

/** The bootloader of `device`, reading and writing through `flash`. */
export function bootThrough(device: SimulatedDevice, flash: Flash): Promise<BootReport> {
  return boot({ flash, layout: device.layout, secureElement: device.secureElement, model: device.model });
}

/** Which firmware the boot state says runs: the old, the new, or neither recorded. */
export function recorded(device: SimulatedDevice): Uint8Array {
  const digest = device.bootState()?.running.digest;
  assert.ok(digest, 'the boot state is readable');
  if (Buffer.from(digest).equals(sha256(NEW))) return NEW;
  if (Buffer.from(digest).equals(sha256(OLD))) return OLD;
  return assert.fail('the boot state records neither firmware');
}

/**
 * Boots until the device runs something settled, confirming a trial (the self-test passes), and checks
 * the end: idle, the firmware the boot state names byte for byte in the slot, and the counter with it.
 */
export async function settle(
  device: SimulatedDevice,
  where: string,
  confirm = true,
  bootWith: (device: SimulatedDevice) => Promise<Pick<BootReport, 'trial' | 'outcome'>> = (d) => d.boot(),
): Promise<Uint8Array> {
  let report = await bootWith(device);
  if (report.trial && confirm) device.confirm();
  else if (report.trial) report = await bootWith(device);
  assert.notEqual(report.outcome, 'halted', `${where}: the device starts`);
  assert.equal(device.bootState()?.phase, 'idle', `${where}: settled`);
  const running = recorded(device);
  assertSameBytes(device.executable(running.length), running, `${where}: executable slot`);
  const end = device.flash.read(
    device.layout.executable.offset + running.length,
    4096 - (running.length % 4096),
  );
  assert.ok(
    end.every((b) => b === 0xff),
    `${where}: the rest of the last sector is erased`,
  );
  const counter = device.secureElement.trust().securityCounter;
  assert.equal(counter, running === NEW ? 1 : 0, `${where}: security counter`);
  return running;
}
