// The short seeded pass of every fuzz target (test/fuzz/targets.ts) that `npm test` runs: a few hundred
// structured mutations each, the same ones every time. `npm run fuzz -- --budget 60s` runs them longer
// with a fresh seed (docs/ASSURANCE.md).
import { test } from 'node:test';
import fc from 'fast-check';
import { TARGETS } from './targets.ts';

const SEED = 0x5111;
/** Mutation testing (stryker.config.json) runs fewer cases per target, to stay quick per mutant. */
const MAX_RUNS = Number(process.env.SIHL_FUZZ_QUICK_RUNS ?? Number.POSITIVE_INFINITY);

for (const target of TARGETS) {
  test(`fuzz target ${target.name}: every mutated input is refused with a verification error or means what was signed`, async () => {
    await fc.assert(await target.property(), {
      seed: SEED,
      numRuns: Math.min(target.quickRuns, MAX_RUNS),
      timeout: 10_000,
    });
  });
}
