// Where passphrases come from: SIHL_PASSPHRASE for scripts and CI, otherwise a prompt on the terminal.
// A passphrase is never echoed, logged or put into an error message.
import { createInterface } from 'node:readline';
import { SihlError } from '../core/errors.ts';
import type { Context } from './command.ts';

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
