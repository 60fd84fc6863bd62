// Staged rollouts: whether a device is in a release's rollout. Publishing seals envelopes only for the
// devices this picks, and the device agent asks the same question before it downloads anything.
import { sha256 } from './crypto/hash.ts';
import { utf8 } from './format/bytes.ts';

/** Whether a device is in a release's rollout: a stable hash of release and device id, in percent. */
export function inRollout(releaseId: Uint8Array, deviceId: string, percent: number): boolean {
  const h = sha256(releaseId, utf8.encode(deviceId));
  const value =
    ((h[0] as number) * 2 ** 24 + (h[1] as number) * 2 ** 16 + (h[2] as number) * 2 ** 8 + (h[3] as number)) /
    2 ** 32;
  return value * 100 < percent;
}
