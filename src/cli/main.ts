// The `sihl` command line: finds the verb, runs it, prints the result, and turns errors into exit codes.
// This is the only place that writes to stdout/stderr or decides an exit code.
import { readFileSync } from 'node:fs';
import { type ErrorCode, familyOf, SihlError } from '../core/errors.ts';
import { type Context, helpText, parse } from './command.ts';
import { terminalPrompt } from './passphrase.ts';
import { findVerb, verbs } from './verbs.ts';

/** Exit codes, documented in the README. */
export const EXIT = { ok: 0, refused: 1, usage: 2, io: 3, internal: 4 } as const;

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'IO_ERROR') return EXIT.io;
  const family = familyOf(code);
  return family === 'verification' ? EXIT.refused : family === 'usage' ? EXIT.usage : EXIT.internal;
}

function overview(): string {
  const lines = [
    'sihl: secure over-the-air firmware updates',
    '',
    'Usage: sihl <command> [options]',
    '',
    'Commands:',
  ];
  for (const v of verbs) lines.push(`  ${v.path.join(' ').padEnd(20)} ${v.summary}`);
  lines.push(
    '',
    'Run `sihl <command> --help` for its options, `sihl --version` for the version.',
    'Exit codes: 0 ok, 1 refused (verification failed), 2 usage or input error, 3 I/O error,',
    '4 internal error.',
  );
  return lines.join('\n');
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

function defaultContext(): Context {
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  let last = 0;
  return {
    cwd: process.cwd(),
    env: process.env,
    ...(interactive ? { prompt: terminalPrompt } : {}),
    ...(process.stderr.isTTY
      ? {
          progress: (label: string, done: number, total: number, unit?: string) => {
            const now = Date.now();
            if (now - last < 200 && done < total) return;
            last = now;
            const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
            const counted = unit
              ? `${done} of ${total} ${unit}`
              : `${(done / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB`;
            process.stderr.write(`\r${label} ${percent}% (${counted})`);
            if (done >= total) process.stderr.write('\n');
          },
        }
      : {}),
  };
}

/** The package's version, from the package.json beside src/ (or dist/ in an installed package). */
export function version(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** No verb in the words: the version, the overview, or an unknown command or option. */
function withoutVerb(argv: string[], words: string[], io: Io): number {
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.out(argv.includes('--json') ? JSON.stringify({ version: version() }) : `sihl ${version()}`);
    return EXIT.ok;
  }
  const bare = words.length === 0 && argv.every((a) => a === '--json');
  if (bare || words[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    io.out(overview());
    return EXIT.ok;
  }
  const unknown = words.length > 0 ? `command "${words.slice(0, 3).join(' ')}"` : `option "${argv[0]}"`;
  io.err(`sihl: unknown ${unknown}\n\n${overview()}`);
  return EXIT.usage;
}

export async function main(
  argv: string[],
  io: Io = processIo,
  context: Context = defaultContext(),
): Promise<number> {
  const json = argv.includes('--json');
  const words = argv.filter((a) => !a.startsWith('-'));
  const verb = findVerb(words);
  if (!verb) return withoutVerb(argv, words, io);
  const command = await verb.load();
  const rest = argv.slice(argv.indexOf(command.path[command.path.length - 1] as string) + 1);
  let parsed = false;
  try {
    const { values, positionals } = parse(command, rest);
    parsed = true;
    if (values.help) {
      io.out(helpText(command));
      return EXIT.ok;
    }
    const result = await command.run(values, positionals, {
      notice: (text) => io.err(`sihl: ${text}`),
      ...context,
    });
    io.out(json ? JSON.stringify(result, null, 2) : command.render(result));
    return command.exitCode?.(result) ?? EXIT.ok;
  } catch (caught) {
    const error =
      caught instanceof SihlError
        ? caught
        : new SihlError('INTERNAL', String((caught as Error)?.stack ?? caught), { cause: caught });
    const where = error.subject ? `${error.subject}: ` : '';
    if (json) {
      io.out(
        JSON.stringify(
          {
            error: {
              code: error.code,
              message: error.message,
              ...(error.subject ? { file: error.subject } : {}),
            },
          },
          null,
          2,
        ),
      );
    } else {
      io.err(`sihl: ${where}${error.message} [${error.code}]`);
      // Options that do not parse: show how they go. A refusal after parsing speaks for itself.
      if (error.code === 'USAGE' && !parsed) io.err(`\n${helpText(command)}`);
    }
    return exitCodeFor(error.code);
  }
}
