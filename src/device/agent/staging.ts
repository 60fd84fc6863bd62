// The ports the update agent needs from its device: a staging slot it can fill piece by piece (NOR
// rules: erase whole sectors, write whole write units) and mark pending, the device's model, boot state
// and secure element. SimulatedDevice satisfies both; firmware on real hardware would too.
import type { SecureElement } from '../secure-element/secure-element.ts';

export interface Staging {
  readonly stagingGeometry: {
    readonly size: number;
    readonly sectorSize: number;
    readonly writeSize: number;
  };
  /** Erases sectors from `from` (a sector boundary) up to `to`; unmarks a pending update first. */
  eraseStaging(from: number, to: number): void;
  /** `offset` and the length are multiples of the write size; the sectors are erased. */
  writeStaging(offset: number, bytes: Uint8Array): void;
  readStaging(offset: number, length: number): Uint8Array;
  /**
   * The bootloader installs the staged image (and the envelope after it) at the next boot, if its
   * manifest has this SHA-256: the image the agent verified, and no other.
   */
  markPending(imageLength: number, envelopeLength: number, manifestDigest: Uint8Array): void;
  /** The running firmware passed its self-test: keep it (docs/BOOT.md §Confirmation). */
  confirm(): void;
}

export interface AgentDevice extends Staging {
  readonly model: string;
  readonly secureElement: SecureElement;
  /** What runs and whether an update waits; null when the boot state is unreadable (boot first). */
  bootState(): { readonly phase: string; readonly running: { readonly version: string } } | null;
}
