// Killing a real `sihl` process at a chosen crash point: the child (sihl-child.ts) runs ARGS, stops at
// the `stopAt`-th point and says so; then it gets `signal` (SIGKILL, or SIGINT as Ctrl-C sends it).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PASSPHRASE } from './cli.ts';

const CHILD = fileURLToPath(new URL('./sihl-child.ts', import.meta.url));

export interface Stopped {
  /** The point it was killed at; undefined when it ran to the end (fewer points than `stopAt`). */
  readonly point: string | undefined;
  /** Its exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly pid: number;
}

/** Runs `sihl ARGS` in `cwd` in a child process, killed with `signal` at crash point number `stopAt`. */
export function killAt(
  cwd: string,
  args: readonly string[],
  stopAt: number,
  signal: NodeJS.Signals | 'none' = 'SIGKILL',
  onStop?: (child: { pid: number; point: string }) => Promise<void>,
): Promise<Stopped> {
  const child = spawn(process.execPath, [CHILD, ...args], {
    cwd,
    env: { ...process.env, SIHL_PASSPHRASE: PASSPHRASE, SIHL_TEST_STOP_AT: String(stopAt) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let point: string | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const m = /stopped at (.*)\n/.exec(stderr);
    if (m && point === undefined) {
      point = m[1] as string;
      void (async () => {
        await onStop?.({ pid: child.pid as number, point: point as string });
        if (signal !== 'none') child.kill(signal);
      })();
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) =>
      resolve({ point, code, signal: sig, stderr, pid: child.pid as number }),
    );
  });
}
