// npm run fuzz -- [--budget 60s] [--seed N] [--target NAME]... | --replay FILE
// Runs every fuzz target of test/fuzz within the budget; exits 1 on any failure (docs/ASSURANCE.md).
import { parseArgs } from 'node:util';
import { parseDuration, replay, runFuzz } from '../test/fuzz/run.ts';

const { values } = parseArgs({
  options: {
    budget: { type: 'string', default: '60s' },
    seed: { type: 'string' },
    target: { type: 'string', multiple: true },
    replay: { type: 'string' },
    out: { type: 'string', default: 'test-artifacts/fuzz' },
  },
});

if (values.replay) {
  process.exitCode = (await replay(values.replay, console.log)) ? 0 : 1;
} else {
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  const budgetMs = parseDuration(values.budget);
  console.log(`fuzzing ${budgetMs / 1000} s, seed ${seed}`);
  const results = await runFuzz({
    budgetMs,
    seed,
    only: values.target,
    outDir: values.out,
    log: console.log,
  });
  const runs = results.reduce((n, r) => n + r.runs, 0);
  const failures = results.reduce((n, r) => n + r.failures, 0);
  console.log(`${runs} cases, ${failures} failing targets`);
  process.exitCode = failures > 0 ? 1 : 0;
}
