// Azurite, Microsoft's storage emulator, started once per test file on loopback with free ports and
// in-memory data, and always stopped. Only the well-known development account exists in it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

/** Azurite's fixed development account; its key is public (documented by Microsoft), not a secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** e.g. http://127.0.0.1:PORT/devstoreaccount1 */
  readonly blobEndpoint: string;
  readonly tableEndpoint: string;
  readonly connectionString: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at (https?:\/\/\S+)/g;

/**
 * Runs Azurite as its child and ends it when our end of its stdin closes, which happens however the test
 * process ends, even when it dies before its `after` hooks run (a failing top-level await does that).
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
const [main, cwd, ...args] = process.argv.slice(1);
const azurite = spawn(process.execPath, [main, ...args], { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
const end = () => {
  azurite.kill('SIGTERM');
  setTimeout(() => azurite.kill('SIGKILL'), 5000).unref();
};
process.stdin.on('end', end).on('error', end).resume();
process.on('SIGTERM', end);
azurite.on('exit', (code) => {
  rmSync(cwd, { recursive: true, force: true });
  process.exit(code ?? 0);
});
`;

function azuriteMain(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts Azurite (blob, queue, table) and registers its stop with the test file's `after`. With `tls`
 * (PEM key and certificate), every service speaks HTTPS, as devices need.
 */
export async function startAzurite(options: { tls?: { key: string; cert: string } } = {}): Promise<Azurite> {
  return launchAzurite(options, after);
}

/** As startAzurite, with the stop registered by `onStop` (the benchmark stops it itself). */
export async function launchAzurite(
  options: { tls?: { key: string; cert: string } } = {},
  onStop: (stop: () => Promise<void>) => void = () => {},
): Promise<Azurite> {
  const cwd = await mkdtemp(join(tmpdir(), 'sihl-azurite-'));
  const tls: string[] = [];
  if (options.tls) {
    await writeFile(join(cwd, 'key.pem'), options.tls.key, { mode: 0o600 });
    await writeFile(join(cwd, 'cert.pem'), options.tls.cert);
    tls.push('--key', join(cwd, 'key.pem'), '--cert', join(cwd, 'cert.pem'));
  }
  const child = spawn(
    process.execPath,
    [
      '-e',
      WATCHDOG,
      azuriteMain(),
      cwd,
      ...['--blobHost', '127.0.0.1', '--queueHost', '127.0.0.1', '--tableHost', '127.0.0.1'],
      ...['--blobPort', '0', '--queuePort', '0', '--tablePort', '0'],
      ...['--skipApiVersionCheck', '--disableTelemetry', '--inMemoryPersistence'],
      ...['--extentMemoryLimit', '512', '--silent'],
      ...tls,
    ],
    { cwd, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stop = async () => {
    await stopProcess(child);
    await rm(cwd, { recursive: true, force: true });
  };
  onStop(stop);
  let output = '';
  try {
    const endpoints = await new Promise<Map<string, string>>((resolve, reject) => {
      const found = new Map<string, string>();
      const timer = setTimeout(
        () => reject(new Error(`Azurite did not start:\n${output}`)),
        START_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        for (const match of output.matchAll(LISTENING)) found.set(match[1] as string, match[2] as string);
        if (found.size === 3) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited with ${code}:\n${output}`));
      });
    });
    const blobEndpoint = `${endpoints.get('Blob')}/${AZURITE_ACCOUNT}`;
    const tableEndpoint = `${endpoints.get('Table')}/${AZURITE_ACCOUNT}`;
    const connectionString = [
      `DefaultEndpointsProtocol=${options.tls ? 'https' : 'http'}`,
      `AccountName=${AZURITE_ACCOUNT}`,
      `AccountKey=${AZURITE_KEY}`,
      `BlobEndpoint=${blobEndpoint}`,
      `TableEndpoint=${tableEndpoint}`,
    ].join(';');
    return { blobEndpoint, tableEndpoint, connectionString, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
