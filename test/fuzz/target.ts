// What a fuzz target is, and the one rule every target checks: a mutated input is either accepted with
// exactly the meaning of a valid input, or refused with a SihlError of the verification family. Any
// other exception (a TypeError, a RangeError, a usage or internal error) is a finding.
import type fc from 'fast-check';
import { familyOf, isSihlError } from '../../src/core/errors.ts';

export interface FuzzTarget {
  readonly name: string;
  /** Runs of the short seeded pass in `npm test`. */
  readonly quickRuns: number;
  /** Builds the valid inputs once and returns the property over their mutations. */
  property(): Promise<fc.IRawProperty<unknown, boolean>>;
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: string };

/** Thrown for anything a target must never see; its message says what was seen. */
export class Finding extends Error {
  override name = 'Finding';
}

function describe(error: unknown): string {
  if (isSihlError(error)) return `SihlError ${error.code} (${error.family}): ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack ?? ''}`;
  return String(error);
}

/** How often each refusal code was seen since the last reset: shows how deep the mutations reach. */
export const refusals = new Map<string, number>();

/** Runs `action`; a refusal must be a verification SihlError (or one of `alsoAllowed`). */
export async function outcome<T>(
  action: () => T | Promise<T>,
  alsoAllowed: readonly string[] = [],
): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await action() };
  } catch (error) {
    if (error instanceof Finding) throw error;
    if (isSihlError(error) && (familyOf(error.code) === 'verification' || alsoAllowed.includes(error.code))) {
      refusals.set(error.code, (refusals.get(error.code) ?? 0) + 1);
      return { ok: false, code: error.code };
    }
    throw new Finding(`refused with something other than a verification error: ${describe(error)}`, {
      cause: error,
    });
  }
}

export function check(condition: boolean, message: string): void {
  if (!condition) throw new Finding(message);
}
