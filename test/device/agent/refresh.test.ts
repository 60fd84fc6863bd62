// How the agent names tuf-js's refusals (src/device/agent/refresh.ts): by their class, and for what
// tuf-js wraps in a RuntimeError, by what was fetched, never by the words of the message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiredMetadataError, RepositoryError, RuntimeError } from 'tuf-js/dist/error.js';
import { SihlError } from '../../../src/core/errors.ts';
import type { PinnedClient } from '../../../src/device/agent/https-client.ts';
import { AGENT_LIMITS } from '../../../src/device/agent/limits.ts';
import { TUF_CONFIG, tufError } from '../../../src/device/agent/refresh.ts';
import { PinnedFetcher } from '../../../src/device/agent/tuf-fetcher.ts';

const NOW = new Date('2026-12-01T00:00:00Z');
const metadata = (expires: string) => new TextEncoder().encode(JSON.stringify({ signed: { expires } }));

function fetcherWith(...bodies: Uint8Array[]): PinnedFetcher {
  const fetcher = new PinnedFetcher({} as PinnedClient);
  fetcher.fetched.push(...bodies);
  return fetcher;
}

test('an expired timestamp is TUF_METADATA_EXPIRED by its class', () => {
  const error = tufError(new ExpiredMetadataError('timestamp.json is expired'), fetcherWith(), NOW);
  assert.equal(error.code, 'TUF_METADATA_EXPIRED');
});

test('a wrapped snapshot or targets failure is expired only when what was fetched had expired', () => {
  const wrapped = new RuntimeError('Unable to load snapshot metadata error');
  assert.equal(
    tufError(wrapped, fetcherWith(metadata('2026-11-30T00:00:00Z')), NOW).code,
    'TUF_METADATA_EXPIRED',
  );
  assert.equal(
    tufError(wrapped, fetcherWith(metadata('2027-01-01T00:00:00Z')), NOW).code,
    'TUF_METADATA_INCONSISTENT',
  );
});

test('the words of a message decide nothing: "expired" in a bad signature is still a refusal', () => {
  const error = tufError(new RepositoryError('signature expired-looking text'), fetcherWith(), NOW);
  assert.equal(error.code, 'TUF_METADATA_INCONSISTENT');
});

test('a transport failure underneath wins, and sihl errors pass unchanged', () => {
  const fetcher = fetcherWith();
  fetcher.lastError = new SihlError('NETWORK_ERROR', 'connection reset');
  assert.equal(tufError(new RuntimeError('Unable to load targets'), fetcher, NOW).code, 'NETWORK_ERROR');
  const own = new SihlError('LIMIT_EXCEEDED', 'too big');
  assert.equal(tufError(own, fetcherWith(), NOW), own);
});

test("tuf-js runs within the agent's limits, not its defaults", () => {
  assert.equal(TUF_CONFIG.timestampMaxLength, AGENT_LIMITS.timestampBytes);
  assert.equal(TUF_CONFIG.snapshotMaxLength, AGENT_LIMITS.metadataBytes);
  assert.equal(TUF_CONFIG.targetsMaxLength, AGENT_LIMITS.metadataBytes);
  assert.equal(TUF_CONFIG.maxRootRotations, AGENT_LIMITS.rootRotations);
  assert.equal(TUF_CONFIG.fetchRetry, 0);
});
