// NOR flash in memory, with the rules of real parts enforced and power cuts injected on demand: after
// its k-th operation (write or erase) the flash loses power, optionally tearing that operation (a write
// leaves only some of its words programmed; an erase leaves the sector partly erased, with
// indeterminate bytes). Every later operation fails, as it would on a device that has lost power.
import { SihlError } from '../../core/errors.ts';
import { ERASED, type Flash, type FlashGeometry, isErased } from './flash.ts';

/** Thrown by the flash when the simulated power goes. Not an error of the code under test. */
export class PowerCut extends Error {
  readonly operation: number;

  constructor(operation: number) {
    super(`power cut after flash operation ${operation}`);
    this.operation = operation;
    this.name = 'PowerCut';
  }
}

export interface CutPlan {
  /** Power is lost after this operation (1-based). */
  readonly after: number;
  /** Whether that operation is torn instead of completed. */
  readonly tear: boolean;
  /** Source of the torn operation's randomness (a seeded generator in tests). */
  readonly random?: () => number;
}

export function checkGeometry(g: FlashGeometry): FlashGeometry {
  const ok =
    Number.isInteger(g.sectorSize) &&
    Number.isInteger(g.writeSize) &&
    g.writeSize > 0 &&
    g.sectorSize >= g.writeSize &&
    g.sectorSize % g.writeSize === 0 &&
    g.size > 0 &&
    g.size % g.sectorSize === 0;
  if (!ok) throw new SihlError('USAGE', `flash geometry ${JSON.stringify(g)} is not consistent`);
  return g;
}

export class SimulatedFlash implements Flash {
  readonly geometry: FlashGeometry;
  readonly memory: Uint8Array;
  /** Erases per sector: the wear. */
  readonly erases: Uint32Array;
  /** Writes and erases since this object was made. */
  operations = 0;
  writes = 0;
  erasures = 0;
  /** Reads and the bytes they returned since this object was made (reads cost no wear, but time). */
  reads = 0;
  bytesRead = 0;
  #cut: CutPlan | undefined;
  #dead = false;

  constructor(geometry: FlashGeometry, memory?: Uint8Array, erases?: Uint32Array) {
    this.geometry = checkGeometry(geometry);
    this.memory = memory ?? new Uint8Array(geometry.size).fill(ERASED);
    if (this.memory.length !== geometry.size)
      throw new SihlError('USAGE', 'flash image size does not match its geometry');
    this.erases = erases ?? new Uint32Array(geometry.size / geometry.sectorSize);
  }

  /** Arms a power cut; `undefined` disarms. Counting starts from the next operation. */
  cutPower(plan: CutPlan | undefined): void {
    this.#cut = plan === undefined ? undefined : { ...plan, after: this.operations + plan.after };
  }

  /** Power comes back: the flash works again (the bytes stay as the cut left them). */
  powerOn(): void {
    this.#dead = false;
    this.#cut = undefined;
  }

  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    this.#inside(offset, length);
    this.reads++;
    this.bytesRead += length;
    const bytes = this.memory.subarray(offset, offset + length);
    if (into === undefined || into.length < length) return bytes.slice();
    // Into the caller's buffer: a copy all the same, which later writes and erases leave alone.
    const out = into.subarray(0, length);
    out.set(bytes);
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    this.#inside(offset, data.length);
    const { writeSize } = this.geometry;
    if (offset % writeSize !== 0 || data.length % writeSize !== 0) {
      throw new SihlError(
        'FLASH_FAULT',
        `write at ${offset} of ${data.length} bytes is not aligned to ${writeSize}`,
      );
    }
    // Writes into erased flash (every write sihl makes) are checked and programmed by native copies.
    const erased = isErased(this.memory.subarray(offset, offset + data.length));
    for (let i = 0; !erased && i < data.length; i++) {
      const now = this.memory[offset + i] as number;
      const next = data[i] as number;
      if ((now & next) !== next) {
        throw new SihlError(
          'FLASH_FAULT',
          `write at ${offset + i} would turn a 0 bit into 1 (sector not erased)`,
        );
      }
    }
    const torn = this.#begin();
    this.writes++;
    if (torn) {
      // Some words made it, others did not; the word being programmed may be half done.
      const words = data.length / writeSize;
      const random = torn.random ?? Math.random;
      const done = Math.floor(random() * words);
      for (let w = 0; w < done; w++)
        this.#program(offset + w * writeSize, data.subarray(w * writeSize, (w + 1) * writeSize));
      if (done < words) {
        const at = offset + done * writeSize;
        for (let i = 0; i < writeSize; i++) {
          if (random() < 0.5)
            this.memory[at + i] = (this.memory[at + i] as number) & (data[done * writeSize + i] as number);
        }
      }
      this.#die();
    }
    if (erased) this.memory.set(data, offset);
    else this.#program(offset, data);
    this.#end();
  }

  erase(offset: number): void {
    const { sectorSize } = this.geometry;
    this.#inside(offset, sectorSize);
    if (offset % sectorSize !== 0)
      throw new SihlError('FLASH_FAULT', `erase at ${offset} is not at a sector start`);
    const torn = this.#begin();
    this.erasures++;
    this.erases[offset / sectorSize] = (this.erases[offset / sectorSize] as number) + 1;
    if (torn) {
      const random = torn.random ?? Math.random;
      for (let i = 0; i < sectorSize; i++) {
        const r = random();
        if (r < 0.4) this.memory[offset + i] = ERASED;
        else if (r < 0.6) this.memory[offset + i] = Math.floor(random() * 256);
      }
      this.#die();
    }
    this.memory.fill(ERASED, offset, offset + sectorSize);
    this.#end();
  }

  #program(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++)
      this.memory[offset + i] = (this.memory[offset + i] as number) & (data[i] as number);
  }

  #inside(offset: number, length: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.geometry.size
    ) {
      throw new SihlError('FLASH_FAULT', `access at ${offset} of ${length} bytes is outside the flash`);
    }
  }

  /** Counts the operation; returns the plan when this operation is to be torn. */
  #begin(): CutPlan | undefined {
    if (this.#dead) throw new PowerCut(this.operations);
    this.operations++;
    return this.#cut?.tear && this.operations === this.#cut.after ? this.#cut : undefined;
  }

  #end(): void {
    if (this.#cut && this.operations >= this.#cut.after) this.#die();
  }

  #die(): never {
    this.#dead = true;
    throw new PowerCut(this.operations);
  }
}
