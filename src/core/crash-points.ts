// Named points in publishing where an interruption leaves the store in a state of its own (after the
// envelope tables, after each metadata file, midway through a mirror). In a normal run nothing listens
// and a point costs one call; the crash tests (test/publisher/publish-crash.test.ts) start a real `sihl`
// process through test/support/sihl-child.ts, which listens, and kill it at each point in turn.

type Listener = (point: string) => void | Promise<void>;

let listener: Listener | undefined;

/** Set by the crash tests' child process only. */
export function onCrashPoint(next: Listener | undefined): void {
  listener = next;
}

/** Publishing reached `point`: everything before it is on disk (or in the store). */
export async function crashPoint(point: string): Promise<void> {
  if (listener) await listener(point);
}
