// What every CLI verb looks like: parsed options in, plain data out. Commands never print or exit;
// main.ts does both, so tests call commands directly.
import { parseArgs } from 'node:util';
import { SihlError } from '../core/errors.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Collected like `multiple` so that the command can refuse a second one (parseArgs keeps the last). */
  readonly once?: boolean;
  readonly help: string;
  /** Shown in help as the value's name. */
  readonly value?: string;
}

export interface Context {
  /** Folder that relative paths are resolved against. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Asks for a passphrase when SIHL_PASSPHRASE is not set; undefined where no terminal is available. */
  readonly prompt?: (question: string) => Promise<string>;
  /** Progress of long work, for a terminal: bytes, unless `unit` names what is counted. */
  readonly progress?: (label: string, done: number, total: number, unit?: string) => void;
  /** A line for the operator beside the result (stderr): no error, but worth knowing. */
  readonly notice?: (text: string) => void;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command<R = unknown> {
  /** Words that select the command, e.g. ['image', 'pack']. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly details?: string;
  run(values: Values, positionals: string[], context: Context): Promise<R>;
  /** Human-readable form of the result. */
  render(result: R): string;
  /**
   * For a result that is printed but did not reach its goal (1, "refused", as a failed verification):
   * a pipeline must be able to stop on it. Absent: 0.
   */
  exitCode?(result: R): 0 | 1;
}

export function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
    json: { type: 'boolean' },
  };
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple || spec.once ? { multiple: true } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new SihlError('USAGE', `${(error as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
  }
}

export function helpText(command: Command): string {
  const lines = [`Usage: sihl ${command.usage}`, '', command.summary];
  if (command.details) lines.push('', command.details);
  lines.push('', 'Options:');
  const all: [string, OptionSpec][] = [
    ...Object.entries(command.options),
    ['json', { type: 'boolean', help: 'print the result as JSON' }],
    ['help', { type: 'boolean', short: 'h', help: 'show this help' }],
  ];
  for (const [name, spec] of all) {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    lines.push(
      `  ${flag.padEnd(34)} ${spec.help}${spec.multiple ? ' (repeatable)' : spec.once ? ' (once)' : ''}`,
    );
  }
  return lines.join('\n');
}

export function requireString(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new SihlError('USAGE', `--${name} is required`);
  return value;
}

export function optionalString(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function strings(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

export function integer(values: Values, name: string, fallback: number, min = 0, max = 0xffffffff): number {
  const value = values[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new SihlError('USAGE', `--${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

export function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) {
    throw new SihlError(
      'USAGE',
      positionals.length === 0 ? `${what} is required` : `expected one ${what}, got ${positionals.length}`,
    );
  }
  return positionals[0] as string;
}
