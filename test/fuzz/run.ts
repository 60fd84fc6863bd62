// The budgeted fuzz run behind `npm run fuzz`: every target gets a fair share of the time budget (what
// one leaves unused goes to the next), counts what it tried, and writes each counterexample with the
// seed and path that replay it. A thin shell (scripts/fuzz.ts) parses the arguments and sets the exit code.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { refusals } from './target.ts';
import { TARGETS } from './targets.ts';

export interface FuzzOptions {
  readonly budgetMs: number;
  readonly seed: number;
  /** Only the targets with these names (all when empty). */
  readonly only?: readonly string[];
  /** Where counterexamples are written. */
  readonly outDir: string;
  readonly log?: (line: string) => void;
}

export interface TargetResult {
  readonly name: string;
  readonly runs: number;
  readonly failures: number;
  readonly ms: number;
  readonly counterexample?: string;
  /** Refusal codes seen, most frequent first. */
  readonly codes: readonly [string, number][];
}

/** A single case longer than this is a hang. */
const CASE_TIMEOUT_MS = 10_000;

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text} (say 60s, 2m or 500ms)`);
  const value = Number(match[1]);
  return Math.round(match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000);
}

export async function runFuzz(options: FuzzOptions): Promise<TargetResult[]> {
  const log = options.log ?? (() => {});
  const targets = TARGETS.filter((t) => !options.only?.length || options.only.includes(t.name));
  if (targets.length === 0) throw new Error(`no fuzz target named ${options.only?.join(', ')}`);
  const results: TargetResult[] = [];
  const deadline = Date.now() + options.budgetMs;
  for (const [i, target] of targets.entries()) {
    const started = Date.now();
    const property = await target.property();
    refusals.clear();
    const share = Math.max(100, (deadline - Date.now()) / (targets.length - i));
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: 1_000_000_000,
      interruptAfterTimeLimit: Math.round(share - (Date.now() - started)),
      markInterruptAsFailure: false,
      timeout: CASE_TIMEOUT_MS,
    });
    const ms = Date.now() - started;
    let counterexample: string | undefined;
    if (details.failed) {
      await mkdir(options.outDir, { recursive: true });
      counterexample = join(options.outDir, `${target.name}-${details.seed}.json`);
      const error = details.errorInstance as Error | undefined;
      await writeFile(
        counterexample,
        `${JSON.stringify(
          {
            target: target.name,
            seed: details.seed,
            path: details.counterexamplePath,
            counterexample: details.counterexample,
            error: error?.message ?? String(details.errorInstance),
            replay: `npm run fuzz -- --replay ${counterexample}`,
          },
          null,
          2,
        )}\n`,
      );
    }
    const codes = [...refusals].sort((a, b) => b[1] - a[1]);
    const failures = details.failed ? 1 : 0;
    const result = { name: target.name, runs: details.numRuns, failures, ms, counterexample, codes };
    results.push(result);
    log(
      `${target.name.padEnd(16)} ${String(result.runs).padStart(8)} cases  ${String(result.failures)} failures  ${(ms / 1000).toFixed(1)} s${counterexample ? `  → ${counterexample}` : ''}`,
    );
    log(`  refused: ${codes.map(([code, n]) => `${code} ${n}`).join(', ')}`);
    if (details.failed)
      log(`  ${String((details.errorInstance as Error)?.message ?? details.errorInstance).split('\n')[0]}`);
  }
  return results;
}

/** Runs one recorded counterexample again (its seed and path), and says whether it still fails. */
export async function replay(file: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const recorded = JSON.parse(await readFile(file, 'utf8')) as { target: string; seed: number; path: string };
  const target = TARGETS.find((t) => t.name === recorded.target);
  if (!target) throw new Error(`no fuzz target named ${recorded.target}`);
  const details = await fc.check(await target.property(), {
    seed: recorded.seed,
    path: recorded.path,
    endOnFailure: true,
    timeout: CASE_TIMEOUT_MS,
  });
  log(details.failed ? `still fails: ${(details.errorInstance as Error)?.message}` : 'passes now');
  return !details.failed;
}
