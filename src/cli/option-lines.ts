// Option tables written the way `--help` prints them, so a command's options read like its help.
import type { OptionSpec } from './command.ts';

/**
 * Options written the way `--help` shows them, one per line: `[-s, ]--name [VALUE[...]]  help`. A VALUE
 * (capitals) makes a string option, `...` after it a repeatable one; no VALUE makes a flag. A line that
 * does not start with `-` continues the help of the line above.
 */
export function optionLines(text: string): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = {};
  let last: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const match =
      /^(?:-([a-zA-Z]), )?--([a-z][a-z0-9-]*)(?: ([A-Z][A-Z0-9_|]*|[a-z0-9]+(?:\|[a-z0-9]+)+)(\.\.\.)?)?\s{2,}(\S.*)$/.exec(
        line,
      );
    if (match) {
      const [, short, name = '', value, many, help = ''] = match;
      options[name] = {
        type: value ? 'string' : 'boolean',
        help,
        ...(value ? { value } : {}),
        ...(short ? { short } : {}),
        ...(many ? { multiple: true } : {}),
      };
      last = name;
    } else if (last !== undefined && !line.startsWith('-')) {
      const spec = options[last] as OptionSpec;
      options[last] = { ...spec, help: `${spec.help} ${line}` };
    } else {
      throw new Error(`option line not understood: ${line}`);
    }
  }
  return options;
}

/**
 * A block of help text written as it prints: the first and last line breaks of the template and the
 * indentation its lines share are dropped, so the text can sit indented in the code.
 */
export function prose(strings: TemplateStringsArray, ...values: unknown[]): string {
  const raw = strings.reduce((text, part, i) => text + (i > 0 ? String(values[i - 1]) : '') + part, '');
  const lines = raw
    .replace(/^\n/, '')
    .replace(/\n[ \t]*$/, '')
    .split('\n');
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
  );
  return lines.map((l) => l.slice(indent)).join('\n');
}
