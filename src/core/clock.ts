// The one shape of "now" in sihl: a function that returns the current time as a Date. Everything that
// reads the time takes one (default: the system clock), so tests can sign metadata that is already
// stale, expire a session, or refill a rate limit without waiting.

/** The current time; tests pass a fixed or shifted one. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/** Milliseconds since the epoch on `clock`. */
export const millisOf = (clock: Clock): number => clock().getTime();
