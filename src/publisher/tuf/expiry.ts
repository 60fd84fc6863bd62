// When TUF metadata expires. Lifetimes follow python-tuf's long-standing defaults: the online roles
// (timestamp, snapshot) live briefly and are re-signed by a job, the offline ones (targets, root) longer.
// The clock is injected so tests can sign metadata that is already stale.

import { type Clock, systemClock } from '../../core/clock.ts';
import { SihlError } from '../../core/errors.ts';

export { type Clock, systemClock };

const DAY_MS = 24 * 60 * 60 * 1000;

export const TIMESTAMP_LIFETIME_MS = 1 * DAY_MS;
export const SNAPSHOT_LIFETIME_MS = 7 * DAY_MS;
export const TARGETS_LIFETIME_MS = 90 * DAY_MS;
export const ROOT_LIFETIME_MS = 365 * DAY_MS;

/** How long each top-level role's metadata stays valid unless the caller says otherwise. */
export const DEFAULT_LIFETIMES_MS = {
  root: ROOT_LIFETIME_MS,
  targets: TARGETS_LIFETIME_MS,
  snapshot: SNAPSHOT_LIFETIME_MS,
  timestamp: TIMESTAMP_LIFETIME_MS,
} as const;

export type TopLevelRole = keyof typeof DEFAULT_LIFETIMES_MS;

/** Whole seconds in UTC, "YYYY-MM-DDTHH:MM:SSZ", the form spec §4.2 gives for `expires`. */
export function formatExpires(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new SihlError('USAGE', 'expiry is not a valid date');
  const year = date.getUTCFullYear();
  if (year < 1970 || year > 9999) throw new SihlError('USAGE', `expiry year ${year} is out of range`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ExpiryOptions {
  /** An explicit expiry; otherwise `now` plus the role's default lifetime. */
  readonly expires?: Date;
  readonly now?: Clock;
}

export function expiresFor(role: TopLevelRole, options: ExpiryOptions): string {
  if (options.expires) return formatExpires(options.expires);
  const now = (options.now ?? systemClock)();
  return formatExpires(new Date(now.getTime() + DEFAULT_LIFETIMES_MS[role]));
}

/** Metadata versions are integers from 1 (spec §4.2, "version"). */
export function checkVersion(version: number, what: string): number {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new SihlError('USAGE', `${what} version must be a whole number from 1, not ${version}`);
  }
  return version;
}
