// Where passphrases come from. For a named key: SIHL_PASSPHRASE_<NAME> (the key's name in capitals, every
// other character an underscore: root-1 → SIHL_PASSPHRASE_ROOT_1), or SIHL_PASSPHRASE_FILE_<NAME> naming a
// 0600 file; then, for compatibility, the shared SIHL_PASSPHRASE; otherwise a prompt on the terminal.
// A passphrase is never echoed, logged or put into an error message.
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { naming, SihlError } from '../core/errors.ts';
import type { Context } from './command.ts';

const PASSPHRASE_FILE_BYTES = 4096;

/** The suffix of a key's own variables: `root-1` → `ROOT_1`. */
export function keyVariable(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The key's own passphrase, from its variable or its passphrase file, or undefined if it has none. */
export async function ownPassphrase(context: Context, name: string): Promise<string | undefined> {
  const suffix = keyVariable(name);
  const value = context.env[`SIHL_PASSPHRASE_${suffix}`];
  if (value) return value;
  const file = context.env[`SIHL_PASSPHRASE_FILE_${suffix}`];
  if (!file) return undefined;
  const path = resolve(context.cwd, file);
  // Loaded here, not at the top: `sihl --version` and the prompt load no file or crypto code.
  const { readSecretFile } = await import('../core/fs.ts');
  try {
    const text = new TextDecoder().decode(await readSecretFile(path, PASSPHRASE_FILE_BYTES));
    const passphrase = text.replace(/\r?\n$/, '');
    if (passphrase === '') throw new SihlError('PASSPHRASE_MISSING', 'the passphrase file is empty');
    return passphrase;
  } catch (error) {
    throw naming(path, error);
  }
}

/** The passphrase of the key `name`: its own first, then the shared one or the terminal. */
export async function keyPassphrase(context: Context, name: string, confirm = false): Promise<string> {
  return (await ownPassphrase(context, name)) ?? passphraseFor(context, `for key ${name}`, confirm);
}

export async function passphraseFor(context: Context, purpose: string, confirm = false): Promise<string> {
  const fromEnv = context.env.SIHL_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!context.prompt) {
    throw new SihlError(
      'PASSPHRASE_MISSING',
      `a passphrase is needed ${purpose}: set SIHL_PASSPHRASE or run in a terminal`,
    );
  }
  const first = await context.prompt(`Passphrase ${purpose}: `);
  if (first === '') throw new SihlError('PASSPHRASE_MISSING', 'the passphrase is empty');
  if (confirm && (await context.prompt('Repeat the passphrase: ')) !== first) {
    throw new SihlError('PASSPHRASE_MISSING', 'the two passphrases differ');
  }
  return first;
}

/** Reads one line from the terminal without echoing it. */
export function terminalPrompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    output._writeToOutput = (s: string) => {
      if (!asked) {
        asked = true;
        process.stderr.write(s);
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new SihlError('PASSPHRASE_MISSING', 'cancelled'));
    });
  });
}
