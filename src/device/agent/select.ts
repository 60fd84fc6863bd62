// Which published target a device should install: pure, over the targets tuf-js verified. The target's
// `custom` fields (src/core/format/target.ts) are written by `release publish`.
import { fromHex } from '../../core/format/bytes.ts';
import { compareSemver, parseSemver, type Semver } from '../../core/format/semver.ts';
import { parseTargetCustom, type TargetCustom } from '../../core/format/target.ts';
import { inRollout } from '../../core/rollout.ts';

export type { TargetCustom } from '../../core/format/target.ts';

export interface Candidate {
  readonly name: string;
  readonly custom: TargetCustom;
}

export interface DeviceFacts {
  readonly id: string;
  readonly model: string;
  readonly channel: string;
  readonly running: string;
  /** Version already staged and pending, if any: only something newer replaces it. */
  readonly staged?: string;
  /** SHA-256 (hex) of targets the bootloader refused; with the target's own hex digest. */
  readonly refused: readonly string[];
}

export type Choice =
  | { readonly kind: 'install'; readonly candidate: Candidate }
  | { readonly kind: 'up-to-date' }
  | { readonly kind: 'not-in-rollout'; readonly candidate: Candidate };

/** Any version the device cannot parse (e.g. "unknown") is older than every release. */
const newer = (a: Semver, than: string | undefined) => {
  const b = than === undefined ? undefined : parseSemver(than);
  return b === undefined || compareSemver(a, b) > 0;
};

/**
 * The newest target for the device's model and channel above what it runs and what it has staged, among
 * those whose rollout includes it. When only releases outside its rollout are newer, says so.
 */
export function chooseTarget(
  targets: Readonly<Record<string, unknown>>,
  device: DeviceFacts,
  digestOf: (name: string) => string | undefined,
): Choice {
  let best: { candidate: Candidate; version: Semver } | undefined;
  let outside: Candidate | undefined;
  for (const [name, entry] of Object.entries(targets)) {
    const custom = parseTargetCustom(entry);
    if (!custom || custom.model !== device.model || custom.channel !== device.channel) continue;
    const version = parseSemver(custom.version);
    if (!version || !newer(version, device.running) || !newer(version, device.staged)) continue;
    const digest = digestOf(name);
    if (digest !== undefined && device.refused.includes(digest)) continue;
    if (!inRollout(fromHex(custom.releaseId), device.id, custom.rollout)) {
      outside ??= { name, custom };
      continue;
    }
    if (!best || compareSemver(version, best.version) > 0) best = { candidate: { name, custom }, version };
  }
  if (best) return { kind: 'install', candidate: best.candidate };
  return outside ? { kind: 'not-in-rollout', candidate: outside } : { kind: 'up-to-date' };
}
