// One way to say "this is refused": a SihlError with this code, whose message says why. The mutation
// tests (StrykerJS) lean on it: a check removed or loosened changes the code or the message.
import assert from 'node:assert/strict';
import { isSihlError } from '../../src/core/errors.ts';

function matches(error: unknown, code: string, message: RegExp): true {
  assert.ok(isSihlError(error), `not a SihlError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return true;
}

/** Asserts `action` throws a SihlError with `code` whose message matches `message`. */
export function refuses(action: () => unknown, code: string, message: RegExp): void {
  assert.throws(action, (error) => matches(error, code, message));
}

/** The same for an action that rejects. */
export async function refusesAsync(
  action: () => Promise<unknown>,
  code: string,
  message: RegExp,
): Promise<void> {
  await assert.rejects(action, (error) => matches(error, code, message));
}
