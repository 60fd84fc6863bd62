// The bootloader (docs/BOOT.md): the small trusted part of a device. At each boot it finishes whatever
// the boot state says is unfinished, then proves the executable slot against the digest it recorded
// before it lets the application start. An install backs the running firmware up, streams the staged
// image into the executable slot with every chunk authenticated in the read that fetched it, and
// starts the new firmware on trial; a trial that is not confirmed by the next boot is reverted.
// Imports: src/core, the flash and secure-element ports, and its own files. Nothing else.
import { equalBytes } from '../../core/crypto/hash.ts';
import type { Flash } from '../flash/flash.ts';
import type { SecureElement } from '../secure-element/secure-element.ts';
import { type BootState, BootStateStore, idle, type Running, UNKNOWN } from './boot-state.ts';
import { digestOf, eraseRange, Meter } from './flash-io.ts';
import { install, startTrial } from './install.ts';
import type { Layout } from './layout.ts';
import { revert, TRIAL_NOT_CONFIRMED } from './revert.ts';

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

export async function boot(device: Device): Promise<BootReport> {
  const { flash, layout } = device;
  const store = new BootStateStore(flash, layout.bootState, device.secureElement);
  const ctx: Boot = { device, store, meter: new Meter() };
  const state = store.read();
  if (!state) {
    // BOOT.md §Damaged boot state: nothing staged can be trusted; the executable slot is left alone.
    eraseRange(flash, layout.staging, 0, layout.staging.size);
    store.write(idle(UNKNOWN, 'BOOT_STATE_CORRUPT'));
    return report(ctx, 'rejected', UNKNOWN, { reason: 'BOOT_STATE_CORRUPT' });
  }
  switch (state.phase) {
    case 'pending':
    case 'backup':
    case 'writing':
      return install(ctx, state);
    case 'installed':
      return startTrial(ctx, state);
    case 'trial':
      // BOOT.md §Trial: the new firmware did not confirm itself before this boot.
      return revert(ctx, state, TRIAL_NOT_CONFIRMED);
    case 'reverting':
      return revert(ctx, state, state.reason);
    case 'confirmed':
      finishConfirmation(device, store, state);
      return report(ctx, 'booted', state.running, {});
    case 'rejected':
      // Power was lost while staging was being erased: finish that.
      eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
      store.write(idle(state.running, state.reason));
      return report(ctx, 'rejected', state.running, { reason: state.reason });
    case 'idle':
      return report(ctx, 'booted', state.running, {});
  }
}

/**
 * BOOT.md §Confirmation: raises the secure element's counters (and pins a newer root) to what the
 * confirmed firmware's image carried, then records it as simply running. The application does this
 * when it confirms; a boot does it when power was lost in between. Raising twice changes nothing.
 */
export function finishConfirmation(device: Device, store: BootStateStore, state: BootState): void {
  const { securityVersion, delegationVersion, root } = state.advance;
  device.secureElement.advance(securityVersion, delegationVersion, root ?? undefined);
  store.write(idle(state.running));
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
    known && (extra.proven === true || equalBytes(digestOf(flash, layout.executable, running.size, ctx.meter), running.digest));
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
