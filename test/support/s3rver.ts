// An S3-compatible server (s3rver) in the test process, once per test file, on a free loopback port with
// its data in a temporary folder, and always stopped. Its one account has the fixed keys S3RVER/S3RVER.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import S3rver from 's3rver';

export const S3RVER_ACCESS_KEY = 'S3RVER';
export const S3RVER_SECRET_KEY = 'S3RVER';

export interface S3Server {
  /** e.g. http://127.0.0.1:PORT; use path-style addressing. */
  readonly endpoint: string;
  /** The variables the AWS SDK's default chain and sihl's location opener read. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

const DIR_PREFIX = 'sihl-s3rver-';

/**
 * The server runs in the test process and dies with it, but a process that dies before its `after` hooks
 * leaves its folder: remove those of test processes that no longer run.
 */
async function sweepDeadRuns(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const pid = Number(
      name.startsWith(DIR_PREFIX) ? name.slice(DIR_PREFIX.length).split('-')[0] : Number.NaN,
    );
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
        await rm(join(tmpdir(), name), { recursive: true, force: true });
      }
    }
  }
}

/**
 * Starts s3rver with `buckets` created, and registers its stop with the test file's `after`. With `tls`
 * (PEM key and certificate) it speaks HTTPS.
 */
export async function startS3rver(
  buckets: readonly string[],
  options: { tls?: { key: string; cert: string } } = {},
): Promise<S3Server> {
  return launchS3rver(buckets, options, after);
}

/** As startS3rver, with the stop registered by `onStop` (the benchmark stops it itself). */
export async function launchS3rver(
  buckets: readonly string[],
  options: { tls?: { key: string; cert: string } } = {},
  onStop: (stop: () => Promise<void>) => void = () => {},
): Promise<S3Server> {
  await sweepDeadRuns();
  const directory = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
    ...(options.tls ?? {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const http = (server as unknown as { httpServer?: Server }).httpServer;
    http?.closeAllConnections();
    if (http?.listening) await server.close();
    await rm(directory, { recursive: true, force: true });
  };
  onStop(stop);
  try {
    const address = (await server.run()) as AddressInfo;
    const endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`;
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
      AWS_REGION: 'us-east-1',
      SIHL_S3_ENDPOINT: endpoint,
    };
    return { endpoint, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
