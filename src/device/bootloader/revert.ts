// Going back to the firmware in the backup slot (docs/BOOT.md §Revert): after a trial that was not
// confirmed, or an install that failed once the executable slot was being written. The backup is
// copied back sector by sector (sectors that already match are skipped, so a revert cut by a power
// loss is simply done again), the rest of the slot erased, and the result proven before it counts.
import { equalBytes } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { type Boot, type BootReport, report } from './boot-report.ts';
import { type BootState, idle, UNKNOWN } from './boot-state.ts';
import { copySlot, digestOf, eraseRange } from './flash-io.ts';

/** The reason recorded when the new firmware did not confirm itself before the next boot. */
export const TRIAL_NOT_CONFIRMED = 'TRIAL_NOT_CONFIRMED';

export function revert(ctx: Boot, state: BootState, reason: string): BootReport {
  const { flash, layout } = ctx.device;
  const { previous } = state;
  const outcome = reason === TRIAL_NOT_CONFIRMED ? 'reverted' : 'rejected';
  if (state.phase !== 'reverting') ctx.store.write({ ...state, phase: 'reverting', reason });
  if (previous.size === 0) {
    // The firmware before was unknown (damaged boot state): there is nothing to go back to.
    eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
    ctx.store.write(idle(UNKNOWN, reason));
    return report(ctx, outcome, UNKNOWN, { reason, attempts: state.attempts });
  }
  if (!equalBytes(digestOf(flash, layout.backup, previous.size, ctx.meter), previous.digest)) {
    // Nothing proven to go back to. A trial whose own slot is whole keeps running; anything else stops.
    const current = state.running;
    const whole =
      current.size > 0 &&
      equalBytes(digestOf(flash, layout.executable, current.size, ctx.meter), current.digest);
    if (!whole || state.phase === 'writing') throw new SihlError('INTERNAL', 'the backup slot is damaged');
    eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
    ctx.store.write(idle(current, 'BACKUP_DAMAGED'));
    return report(ctx, 'rejected', current, {
      reason: 'BACKUP_DAMAGED',
      attempts: state.attempts,
      proven: true,
    });
  }
  copySlot(flash, layout.backup, layout.executable, previous.size, ctx.meter);
  eraseRange(flash, layout.executable, previous.size, layout.executable.size);
  if (!equalBytes(digestOf(flash, layout.executable, previous.size, ctx.meter), previous.digest)) {
    // The backup itself is not what was proven when it was made: stop; the next boot tries again.
    throw new SihlError('INTERNAL', 'the executable slot does not read back as the backup');
  }
  eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
  ctx.store.write(idle(previous, reason));
  return report(ctx, outcome, previous, { reason, attempts: state.attempts, proven: true });
}
