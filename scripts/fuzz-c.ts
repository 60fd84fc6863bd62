// npm run fuzz:c -- [--budget 60s] [--target NAME]...
// Runs each libFuzzer harness of the C bootloader (bootloader/fuzz/) for the budget, one after the
// other, from seeds cut from docs/vectors; prints executions per harness; exits 1 on any crash, the
// input being in bootloader/build/fuzz/artifacts/ (docs/BOOTLOADER-C.md §Fuzzing).
import { parseArgs } from 'node:util';
import { buildFuzzers, FUZZ_TARGETS, type FuzzTarget, fuzz, writeSeeds } from '../test/bootloader/c-fuzz.ts';
import { missingToolchain } from '../test/bootloader/c-host.ts';
import { parseDuration } from '../test/fuzz/run.ts';

const { values } = parseArgs({
  options: { budget: { type: 'string', default: '60s' }, target: { type: 'string', multiple: true } },
});
const missing = await missingToolchain();
if (missing) {
  console.error(`fuzz:c: ${missing}`);
  process.exit(2);
}
const seconds = Math.max(1, Math.round(parseDuration(values.budget) / 1000));
const targets = (values.target ?? [...FUZZ_TARGETS]) as FuzzTarget[];
await buildFuzzers();
const seeds = await writeSeeds();
let crashed = 0;
console.log(`fuzzing ${targets.length} harnesses, ${seconds} s each`);
for (const target of targets) {
  const result = await fuzz(target, seeds[target], seconds);
  console.log(
    `${target.padEnd(12)} ${String(result.executions).padStart(12)} executions  ${result.crashed ? 'CRASH' : 'nothing found'}`,
  );
  if (result.crashed) {
    crashed++;
    console.log(result.output.split('\n').slice(-40).join('\n'));
  }
}
process.exitCode = crashed > 0 ? 1 : 0;
