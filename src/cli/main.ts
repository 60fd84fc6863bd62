// The `sihl` command line: finds the verb, runs it, prints the result, and turns errors into exit codes.
// This is the only place that writes to stdout/stderr or decides an exit code.
import { type ErrorCode, familyOf, SihlError } from '../core/errors.ts';
import { type Command, type Context, helpText, parse } from './command.ts';
import { deviceList, deviceProvision, deviceRevoke } from './commands/device.ts';
import { fleetStatus } from './commands/fleet.ts';
import {
  envelopeSeal,
  imageInspect,
  imagePack,
  imageSign,
  imageUnpack,
  imageVerify,
} from './commands/image.ts';
import { keysGenerate } from './commands/keys.ts';
import { nginxConfigCommand } from './commands/nginx-config.ts';
import {
  releaseApprove,
  releaseCheck,
  releaseCreate,
  releasePublish,
  timestampRefresh,
} from './commands/release.ts';
import {
  rolloutAdvance,
  rolloutCheck,
  rolloutHalt,
  rolloutResume,
  rolloutStatus,
} from './commands/rollout.ts';
import { serve } from './commands/serve.ts';
import {
  simDeviceBoot,
  simDeviceCreate,
  simDeviceIdentity,
  simDeviceInspect,
  simDeviceStage,
} from './commands/sim.ts';
import { simFleet } from './commands/sim-fleet.ts';
import { simDeviceConfigure, simDeviceRun } from './commands/sim-run.ts';
import { delegationCreate, rootCreate } from './commands/trust.ts';
import { init, keysAdd, keysList, keysRemove, keysRotate } from './commands/workspace.ts';
import { terminalPrompt } from './passphrase.ts';

export const commands: readonly Command[] = [
  init,
  keysAdd,
  keysRotate,
  keysRemove,
  keysList,
  deviceProvision,
  deviceList,
  deviceRevoke,
  releaseCreate,
  releaseApprove,
  releaseCheck,
  releasePublish,
  timestampRefresh,
  keysGenerate,
  rootCreate,
  delegationCreate,
  imagePack,
  imageSign,
  imageInspect,
  imageVerify,
  imageUnpack,
  envelopeSeal,
  simDeviceCreate,
  simDeviceIdentity,
  simDeviceStage,
  simDeviceBoot,
  simDeviceInspect,
  simDeviceConfigure,
  simDeviceRun,
  simFleet,
  serve,
  nginxConfigCommand,
  fleetStatus,
  rolloutStatus,
  rolloutAdvance,
  rolloutHalt,
  rolloutResume,
  rolloutCheck,
] as Command[];

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
  for (const c of commands) lines.push(`  ${c.path.join(' ').padEnd(20)} ${c.summary}`);
  lines.push(
    '',
    'Run `sihl <command> --help` for its options. Exit codes: 0 ok, 1 refused (verification failed),',
  );
  lines.push('2 usage or input error, 3 I/O error, 4 internal error.');
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

export async function main(
  argv: string[],
  io: Io = processIo,
  context: Context = defaultContext(),
): Promise<number> {
  const json = argv.includes('--json');
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  const words = argv.filter((a) => !a.startsWith('-'));
  const command = commands.find((c) => c.path.every((p, i) => words[i] === p));
  if (!command) {
    if (argv.length === 0 || wantsHelp || argv[0] === 'help') {
      io.out(overview());
      return argv.length === 0 ? EXIT.usage : EXIT.ok;
    }
    io.err(`sihl: unknown command "${words.slice(0, 3).join(' ')}"\n\n${overview()}`);
    return EXIT.usage;
  }
  const rest = argv.slice(argv.indexOf(command.path[command.path.length - 1] as string) + 1);
  let parsed = false;
  try {
    const { values, positionals } = parse(command, rest);
    parsed = true;
    if (values.help) {
      io.out(helpText(command));
      return EXIT.ok;
    }
    const result = await command.run(values, positionals, context);
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
