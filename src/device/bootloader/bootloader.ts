// The bootloader (docs/BOOT.md): the small trusted part of a device. At each boot it finishes whatever
// the boot state says is unfinished, then proves the executable slot against the digest it recorded
// before it lets the application start. An install backs the running firmware up, streams the staged
// image into the executable slot with every chunk authenticated in the read that fetched it, and
// starts the new firmware on trial; a trial that is not confirmed by the next boot is reverted.
// Imports: src/core, the flash and secure-element ports, and its own files. Nothing else.
import { type Boot, type BootReport, type Device, report } from './boot-report.ts';
import { type BootState, BootStateStore, idle, UNKNOWN } from './boot-state.ts';
import { eraseRange, Meter } from './flash-io.ts';
import { BOOT_CHUNK_MAX, install, startTrial } from './install.ts';
import { revert, TRIAL_NOT_CONFIRMED } from './revert.ts';

export type { Boot, BootReport, Device } from './boot-report.ts';

export async function boot(device: Device): Promise<BootReport> {
  const { flash, layout } = device;
  const store = new BootStateStore(flash, layout.bootState, device.secureElement);
  const ctx: Boot = { device, store, meter: new Meter() };
  const read = store.read();
  // A record whose sizes do not fit this flash's slots cannot be acted on: as damaged as none at all.
  const fits = (r: BootState) =>
    r.running.size <= layout.executable.size && r.previous.size <= layout.executable.size;
  const state = read && fits(read) ? read : null;
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
      // BOOT.md §Revert: the new firmware did not confirm itself before this boot.
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

export { BOOT_CHUNK_MAX };
