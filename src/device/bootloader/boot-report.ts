// What a boot reports, and the check every boot ends with: the executable slot is proven against the
// digest the boot state records before the application may start (docs/BOOT.md §Starting).
import { equalBytes } from '../../core/crypto/hash.ts';
import type { Flash } from '../flash/flash.ts';
import type { SecureElement } from '../secure-element/secure-element.ts';
import type { BootStateStore, Running } from './boot-state.ts';
import { digestOf, type Meter } from './flash-io.ts';
import type { Layout } from './layout.ts';

export interface Device {
  readonly flash: Flash;
  readonly layout: Layout;
  readonly secureElement: SecureElement;
  readonly model: string;
}

export interface BootReport {
  /**
   * booted: the application starts; rejected: it starts, and a staged image was refused on the way;
   * reverted: it starts on the firmware from before a trial that was not confirmed; halted: the slot
   * is not what the boot state says, and nothing starts.
   */
  readonly outcome: 'booted' | 'rejected' | 'reverted' | 'halted';
  readonly running: Running;
  /** A new image was installed during this boot. */
  readonly installed: boolean;
  /** The running firmware is on trial: it must confirm itself before the next boot. */
  readonly trial: boolean;
  /** Installs begun for that image, this one included (above 1: power was lost during one). */
  readonly attempts: number;
  /** The refusal's code, when outcome is rejected or reverted. */
  readonly reason?: string;
  /** The executable slot matches the digest the boot state records for it. */
  readonly intact: boolean;
  /** The largest buffer the bootloader used, in bytes. */
  readonly highWater: number;
}

/** What one boot works with. */
export interface Boot {
  readonly device: Device;
  readonly store: BootStateStore;
  readonly meter: Meter;
}

/**
 * The boot's last step: the slot is proven against the recorded digest (unless the install just did)
 * before the application may start; a slot that is not what the record says halts the device.
 */
export function report(
  ctx: Boot,
  outcome: BootReport['outcome'],
  running: Running,
  extra: { installed?: boolean; attempts?: number; reason?: string; trial?: boolean; proven?: boolean },
): BootReport {
  const { flash, layout } = ctx.device;
  const known = running.size > 0 && running.size <= layout.executable.size;
  const intact =
    known &&
    (extra.proven === true ||
      equalBytes(digestOf(flash, layout.executable, running.size, ctx.meter), running.digest));
  return {
    outcome: known && !intact ? 'halted' : outcome,
    running,
    installed: extra.installed ?? false,
    trial: extra.trial ?? false,
    attempts: extra.attempts ?? 0,
    ...(extra.reason ? { reason: extra.reason } : {}),
    intact,
    highWater: ctx.meter.highWater,
  };
}
