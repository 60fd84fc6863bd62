// Option tables and help blocks written as `--help` prints them (src/cli/option-lines.ts): what each line
// means, and that a line the parser does not understand stops the command from loading.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpText } from '../../src/cli/command.ts';
import { optionLines, prose } from '../../src/cli/option-lines.ts';

test('an option line gives a string, a repeatable, a short or a flag option, and a continued help', () => {
  const options = optionLines(`
    --model M          device model
    --key FILE...      an approver's key
    -o, --output FILE  where to write
    --force            replace an existing file,
                       also one written by hand
  `);
  assert.deepEqual(options, {
    model: { type: 'string', value: 'M', help: 'device model' },
    key: { type: 'string', value: 'FILE', multiple: true, help: "an approver's key" },
    output: { type: 'string', value: 'FILE', short: 'o', help: 'where to write' },
    force: { type: 'boolean', help: 'replace an existing file, also one written by hand' },
  });
  const help = helpText({
    path: ['x'],
    summary: 's',
    usage: 'x',
    options,
    run: async () => 0,
    render: String,
  });
  assert.match(help, /-o, --output FILE +where to write/);
  assert.match(help, /--key FILE +an approver's key \(repeatable\)/);
});

test('a line that is not an option, or has one space before its help, is refused when the table is made', () => {
  assert.throws(
    () => optionLines('--model M device model'),
    /option line not understood: --model M device model/,
  );
  assert.throws(() => optionLines('model M  device model'), /option line not understood/);
});

test('prose drops the block indentation and the first and last line breaks, and keeps inner indentation', () => {
  const text = prose`
    Two phases:
      sihl init acme
    then the rest.
  `;
  assert.equal(text, 'Two phases:\n  sihl init acme\nthen the rest.');
});
