// The secure element port: the device's keys live inside it and never come out. It signs, opens key
// envelopes, and keeps the trust anchors and the counters that must never go down.
import type { VersionedRoot } from '../../core/format/root-chain.ts';
import type { KeySet } from '../../core/format/signatures.ts';

export interface DeviceIdentity {
  /** Ed25519: signs the device's status reports. */
  readonly sign: Uint8Array;
  /** X25519: key envelopes are sealed to it. A separate key pair, never derived from the other. */
  readonly box: Uint8Array;
}

export interface TrustState {
  /** Root keys and threshold: pinned at provisioning, replaced by newer roots an installed image led to. */
  readonly root: KeySet;
  /** Their version (docs/FORMAT.md §Root chain); it never goes down. */
  readonly rootVersion: number;
  /** Highest delegation version accepted so far. */
  readonly delegationVersion: number;
  /** Anti-rollback counter: the lowest security version still allowed. */
  readonly securityCounter: number;
}

export interface SecureElement {
  identity(): DeviceIdentity;
  sign(message: Uint8Array): Uint8Array;
  /** The content key inside an envelope for this device and image (throws ENVELOPE_* codes). */
  openEnvelope(envelope: Uint8Array, binding: Uint8Array): Uint8Array;
  /** The table SAS inside a credential box sealed to this device (docs/CLOUD.md); null for an empty slot. */
  openCredential(box: Uint8Array): string | null;
  trust(): TrustState;
  /**
   * Raises the counters to at least these values and pins `root` if it is newer than the pinned one;
   * never lowers anything. The caller has verified `root` through the chain from the pinned root.
   */
  advance(securityVersion: number, delegationVersion: number, root?: VersionedRoot): void;
  /** A tag over a boot-state record with a key that never leaves the element (docs/BOOT.md §Boot state). */
  tagRecord(message: Uint8Array): Uint8Array;
  /** Whether `tag` is this element's tag over `message`. */
  checkRecord(message: Uint8Array, tag: Uint8Array): boolean;
}
