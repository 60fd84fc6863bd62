// Targets this device refused after verifying their bytes (a payload that does not match its signed
// digest, a version below the running one, a manifest at odds with the target's entry, …), remembered
// by their exact identity in the signed targets metadata: path, length and hashes. The same bytes give
// the same answer, so a remembered target is not downloaded again while the metadata names it
// unchanged; a republished or different target is another identity and is tried (docs/AGENT.md). An
// envelope that does not fit is never a refusal of the target: its bytes are unauthenticated.
import type { ErrorCode } from '../../core/errors.ts';

export interface TargetIdentity {
  /** The TUF target path, e.g. movehub/movehub-7.28.0.sihl. */
  readonly target: string;
  readonly length: number;
  /** Every hash the targets role signed for it, by algorithm (hex). */
  readonly hashes: Readonly<Record<string, string>>;
}

export interface RefusedTarget extends TargetIdentity {
  /** Why it was refused: the code reported once, when it was. */
  readonly reason: ErrorCode;
}

/** The identity of target `name` in the verified targets (raw metadata entries), when it has one. */
export function identityOf(
  targets: Readonly<Record<string, unknown>>,
  name: string,
): TargetIdentity | undefined {
  const entry = targets[name] as { length?: unknown; hashes?: unknown } | undefined;
  if (!entry || !Number.isSafeInteger(entry.length) || typeof entry.hashes !== 'object' || !entry.hashes)
    return undefined;
  const hashes = Object.entries(entry.hashes as Record<string, unknown>).filter(
    (pair): pair is [string, string] => typeof pair[1] === 'string',
  );
  if (hashes.length === 0) return undefined;
  return { target: name, length: entry.length as number, hashes: Object.fromEntries(hashes) };
}

/** The same target: same path, same length, and the same set of hashes. */
export function sameTarget(a: TargetIdentity, b: TargetIdentity): boolean {
  if (a.target !== b.target || a.length !== b.length) return false;
  const keys = Object.keys(a.hashes);
  return (
    keys.length === Object.keys(b.hashes ?? {}).length && keys.every((k) => a.hashes[k] === b.hashes?.[k])
  );
}

/**
 * The verified targets without those this device refused, and the refusals still named unchanged by
 * them (the others are forgotten: their target changed or left the metadata).
 */
export function withoutRefused(
  targets: Readonly<Record<string, unknown>>,
  refusals: readonly RefusedTarget[],
): { offered: Record<string, unknown>; kept: RefusedTarget[] } {
  const offered: Record<string, unknown> = { ...targets };
  const kept: RefusedTarget[] = [];
  for (const refusal of refusals) {
    const now = typeof refusal?.target === 'string' ? identityOf(targets, refusal.target) : undefined;
    if (now === undefined || !sameTarget(now, refusal)) continue;
    kept.push(refusal);
    delete offered[refusal.target];
  }
  return { offered, kept };
}
