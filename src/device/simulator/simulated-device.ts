// A whole simulated device: flash (in memory, saved to a folder between runs), its layout, a secure
// element in its own flash region and the bootloader. What the factory does (create) and what the
// update agent does (stage) are here too, so tests and `sihl sim device` can drive a device end to end.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../core/crypto/hash.ts';
import { naming, SihlError } from '../../core/errors.ts';
import { decodeHeader, HEADER_BYTES } from '../../core/format/header.ts';
import type { KeySet } from '../../core/format/signatures.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { BootStateStore, idle } from '../bootloader/boot-state.ts';
import { type BootReport, boot, finishConfirmation } from '../bootloader/bootloader.ts';
import { eraseRange, Meter, SectorWriter } from '../bootloader/flash-io.ts';
import { checkLayout, type Layout, planLayout } from '../bootloader/layout.ts';
import { ERASED, type FlashGeometry } from '../flash/flash.ts';
import { SimulatedFlash } from '../flash/simulated-flash.ts';
import { SimulatedSecureElement } from '../secure-element/simulated-secure-element.ts';

/** SHA-256 of the manifest an image carries; zeros when it has none (the bootloader refuses it anyway). */
function manifestDigestOf(image: Uint8Array): Uint8Array {
  try {
    const { manifestLength } = decodeHeader(image);
    if (image.length >= HEADER_BYTES + manifestLength)
      return sha256(image.subarray(HEADER_BYTES, HEADER_BYTES + manifestLength));
  } catch {
    // not an image: nothing to bind
  }
  return new Uint8Array(32);
}

export interface CreateOptions {
  readonly model: string;
  /** The root keys to pin, and their root version (1 by default). */
  readonly root: KeySet & { readonly version?: number };
  readonly firmware: Uint8Array;
  readonly version: string;
  readonly sectorSize?: number;
  readonly writeSize?: number;
  /** Largest firmware the device can hold; by default twice the first firmware, at least 1 MiB. */
  readonly slotSize?: number;
}

export class SimulatedDevice {
  readonly model: string;
  readonly flash: SimulatedFlash;
  readonly layout: Layout;

  constructor(model: string, flash: SimulatedFlash, layout: Layout) {
    checkLayout(layout, flash.geometry);
    this.model = model;
    this.flash = flash;
    this.layout = layout;
  }

  /** The secure element, as the bootloader finds it at power-on. */
  get secureElement(): SimulatedSecureElement {
    return SimulatedSecureElement.open(this.flash, this.layout.secureElement);
  }

  /** The boot-state log, its records tagged by the secure element. */
  #store(): BootStateStore {
    return new BootStateStore(this.flash, this.layout.bootState, this.secureElement);
  }

  /** The factory: a device running `firmware`, its keys made inside its secure element. */
  static async create(options: CreateOptions): Promise<SimulatedDevice> {
    const sectorSize = options.sectorSize ?? 4096;
    const slotSize = options.slotSize ?? Math.max(2 * options.firmware.length, 1024 * 1024);
    if (options.firmware.length === 0 || options.firmware.length > slotSize) {
      throw new SihlError(
        'USAGE',
        `firmware of ${options.firmware.length} bytes does not fit a ${slotSize}-byte slot`,
      );
    }
    const { layout, size } = planLayout(sectorSize, slotSize);
    const geometry: FlashGeometry = { size, sectorSize, writeSize: options.writeSize ?? 8 };
    const flash = new SimulatedFlash(geometry);
    SimulatedSecureElement.provision(flash, layout.secureElement, options.root);
    const writer = new SectorWriter(flash, layout.executable, new Meter());
    await writer.write(options.firmware);
    writer.finish();
    const running = {
      size: options.firmware.length,
      digest: sha256(options.firmware),
      version: options.version,
    };
    const device = new SimulatedDevice(options.model, flash, layout);
    device.#store().reset(idle(running));
    return device;
  }

  /**
   * What the update agent does once a download is complete: the image (and its key envelope) go into
   * the staging slot, and only then is the update marked pending.
   */
  stage(image: Uint8Array, envelope?: Uint8Array): void {
    const manifest = manifestDigestOf(image);
    const { staging } = this.layout;
    const bytes = envelope ? Buffer.concat([image, envelope]) : image;
    if (bytes.length > staging.size) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `image and envelope (${bytes.length} bytes) do not fit the staging slot`,
      );
    }
    const store = this.#store();
    const state = store.read();
    if (!state) throw new SihlError('USAGE', 'boot state is damaged; boot the device first');
    // The agent runs in booted firmware: never stage over an install that has not finished.
    if (state.phase !== 'idle' && state.phase !== 'pending') {
      throw new SihlError('USAGE', `the device is ${state.phase}, not running; boot it first`);
    }
    // Replacing a pending image: first say nothing is pending, so a cut while staging the new one
    // does not leave the old pending flag over half-written bytes.
    if (state.phase === 'pending') store.write(idle(state.running, state.reason));
    eraseRange(this.flash, staging, 0, staging.size);
    const { sectorSize, writeSize } = this.flash.geometry;
    for (let at = 0; at < bytes.length; at += sectorSize) {
      const piece = bytes.subarray(at, Math.min(at + sectorSize, bytes.length));
      const padded = new Uint8Array(Math.ceil(piece.length / writeSize) * writeSize).fill(ERASED);
      padded.set(piece);
      this.flash.write(staging.offset + at, padded);
    }
    store.write({
      ...state,
      phase: 'pending',
      stagedImage: image.length,
      stagedEnvelope: envelope?.length ?? 0,
      stagedManifest: manifest,
      attempts: 0,
      reason: '',
    });
  }

  // The update agent's staging port (src/device/agent/staging.ts): it writes a download piece by piece.

  get stagingGeometry(): { readonly size: number; readonly sectorSize: number; readonly writeSize: number } {
    const { sectorSize, writeSize } = this.flash.geometry;
    return { size: this.layout.staging.size, sectorSize, writeSize };
  }

  /**
   * Erases the staging sectors from `from` (a sector boundary) up to `to`. A pending update is unmarked
   * first, so the bootloader never installs from a slot that is being rewritten.
   */
  eraseStaging(from: number, to: number): void {
    const store = this.#store();
    const state = this.#runningState(store);
    if (state.phase === 'pending') store.write(idle(state.running, state.reason));
    eraseRange(this.flash, this.layout.staging, from, to);
  }

  /** Writes into the staging slot; offset and length are multiples of the write size, the sectors erased. */
  writeStaging(offset: number, bytes: Uint8Array): void {
    if (offset < 0 || offset + bytes.length > this.layout.staging.size) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `a write at ${offset} of ${bytes.length} bytes is outside staging`,
      );
    }
    this.#runningState(this.#store());
    this.flash.write(this.layout.staging.offset + offset, bytes);
  }

  readStaging(offset: number, length: number): Uint8Array {
    if (offset < 0 || offset + length > this.layout.staging.size) {
      throw new SihlError('LIMIT_EXCEEDED', `a read at ${offset} of ${length} bytes is outside staging`);
    }
    return this.flash.read(this.layout.staging.offset + offset, length);
  }

  /** The staging slot holds an image of `imageLength` bytes and its envelope after it: install at next boot. */
  markPending(imageLength: number, envelopeLength: number, manifestDigest: Uint8Array): void {
    if (imageLength <= 0 || imageLength + envelopeLength > this.layout.staging.size) {
      throw new SihlError('LIMIT_EXCEEDED', 'image and envelope do not fit the staging slot');
    }
    const store = this.#store();
    const state = this.#runningState(store);
    store.write({
      ...state,
      phase: 'pending',
      stagedImage: imageLength,
      stagedEnvelope: envelopeLength,
      stagedManifest: manifestDigest.slice(),
      attempts: 0,
      reason: '',
    });
  }

  /**
   * The application's verdict after its self-test on a trial boot (docs/BOOT.md §Confirmation): the
   * new firmware stays, and the counters and a newer root advance now, not before.
   */
  confirm(): void {
    const store = this.#store();
    const state = store.read();
    if (state?.phase !== 'trial') {
      throw new SihlError('USAGE', `nothing is on trial (the device is ${state?.phase ?? 'damaged'})`);
    }
    const confirmed = { ...state, phase: 'confirmed' as const };
    store.write(confirmed);
    finishConfirmation(this, store, confirmed);
  }

  /** The boot state, refusing to touch staging while an install is unfinished (boot first). */
  #runningState(store: BootStateStore) {
    const state = store.read();
    if (!state) throw new SihlError('USAGE', 'boot state is damaged; boot the device first');
    if (state.phase !== 'idle' && state.phase !== 'pending') {
      throw new SihlError('USAGE', `the device is ${state.phase}, not running; boot it first`);
    }
    return state;
  }

  boot(): Promise<BootReport> {
    return boot({
      flash: this.flash,
      layout: this.layout,
      secureElement: this.secureElement,
      model: this.model,
    });
  }

  /** The executable slot's first `size` bytes. */
  executable(size: number): Uint8Array {
    return this.flash.read(this.layout.executable.offset, size);
  }

  bootState() {
    return this.#store().read();
  }

  /** A copy of this device as its flash is now (a power-cut test starts every run from the same state). */
  clone(): SimulatedDevice {
    return new SimulatedDevice(
      this.model,
      new SimulatedFlash(this.flash.geometry, this.flash.memory.slice(), this.flash.erases.slice()),
      this.layout,
    );
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'flash.bin'), this.flash.memory, { overwrite: true, mode: 0o600 });
    const description = {
      sihl: 'simulated-device',
      version: 1,
      model: this.model,
      geometry: this.flash.geometry,
      layout: this.layout,
      erases: [...this.flash.erases],
    };
    await writeFileAtomic(join(dir, 'device.json'), `${JSON.stringify(description, null, 2)}\n`, {
      overwrite: true,
    });
  }

  static async load(dir: string): Promise<SimulatedDevice> {
    const path = join(dir, 'device.json');
    let description: {
      sihl?: string;
      model: string;
      geometry: FlashGeometry;
      layout: Layout;
      erases: number[];
    };
    try {
      description = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      if (error instanceof SyntaxError)
        throw new SihlError('USAGE', 'not a simulated device (device.json is not JSON)', { subject: path });
      throw naming(path, error);
    }
    if (description.sihl !== 'simulated-device')
      throw new SihlError('USAGE', 'not a simulated device', { subject: path });
    const g = description.geometry;
    if (
      !g ||
      typeof description.model !== 'string' ||
      !description.layout ||
      !Array.isArray(description.erases) ||
      description.erases.length !== g.size / g.sectorSize
    ) {
      throw new SihlError('USAGE', 'device.json is incomplete or inconsistent', { subject: path });
    }
    let memory: Uint8Array;
    try {
      memory = new Uint8Array(await readFile(join(dir, 'flash.bin')));
    } catch (error) {
      throw naming(join(dir, 'flash.bin'), error);
    }
    if (memory.length !== g.size) {
      throw new SihlError('USAGE', 'flash.bin does not match the geometry in device.json', {
        subject: join(dir, 'flash.bin'),
      });
    }
    const flash = new SimulatedFlash(description.geometry, memory, Uint32Array.from(description.erases));
    return new SimulatedDevice(description.model, flash, description.layout);
  }
}
