// `sihl` in a process of its own, for the crash tests: with SIHL_TEST_STOP_AT=N it stops at the N-th
// crash point it passes (src/core/crash-points.ts), says which on stderr ("stopped at POINT") and waits
// there to be killed. Without it, it is plain `sihl`. Run as: node test/support/sihl-child.ts ARGS…
import { main } from '../../src/cli/main.ts';
import { onCrashPoint } from '../../src/core/crash-points.ts';

const stopAt = Number(process.env.SIHL_TEST_STOP_AT ?? 0);
let reached = 0;
onCrashPoint(async (point) => {
  reached += 1;
  if (reached !== stopAt) return;
  process.stderr.write(`stopped at ${point}\n`);
  setInterval(() => {}, 60_000); // keeps the process alive until the signal
  await new Promise(() => {});
});
process.exitCode = await main(process.argv.slice(2));
