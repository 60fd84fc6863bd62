// Every bound of the update agent in one place: what it accepts from the network and how long it waits.
// A device talks to one pinned server, but that server (or a mirror behind it) may be compromised or
// broken: nothing it sends is allowed to grow without limit or to keep the agent waiting forever.

export const AGENT_LIMITS = {
  /** timestamp.json (tuf-js's own default bound). */
  timestampBytes: 16 * 1024,
  /** Any other metadata file, and the body of an error response that is read at all. */
  metadataBytes: 2 * 1024 * 1024,
  /** New root versions followed in one refresh (TUF 5.3.3; tuf-js's own default). */
  rootRotations: 256,
  /** Bytes of image fetched per Range request; progress is saved after each (a kill loses at most this). */
  pieceBytes: 16 * 1024,
  /** TCP and TLS set-up. */
  connectMs: 10_000,
  /** No byte for this long: the request fails. */
  idleMs: 15_000,
  /** Whole request, headers and body: a server that trickles bytes is cut off. */
  requestMs: 60_000,
  /** Signed status reports kept while the server cannot take them; the oldest go first. */
  outboxReports: 16,
  /** Targets refused (by the bootloader's trial, or by the agent's own checks), remembered so they are not downloaded again. */
  refusedTargets: 16,
} as const;

export interface Timing {
  /** Seconds between polls when all is well. */
  readonly interval: number;
  /** Each delay is shortened by up to this fraction, at random, so a fleet does not poll in step. */
  readonly jitter: number;
  /** First delay after an error, in seconds; it doubles with each error in a row. */
  readonly backoff: number;
  /** The longest delay after errors, in seconds. */
  readonly backoffCap: number;
}

export const DEFAULT_TIMING: Timing = { interval: 3600, jitter: 0.1, backoff: 10, backoffCap: 3600 };
