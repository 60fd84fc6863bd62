// Shared set-up for the TUF tests: role keys, a signed release, a static file server on loopback that
// stands in for blob storage, and a stock tuf-js client that trusts a given root.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { after } from 'node:test';
import type { Metadata, Root } from '@tufjs/models';
import { Updater } from 'tuf-js';
import type { SigningKeyPair } from '../../../src/core/crypto/index.ts';
import {
  type AnyMetadata,
  type Clock,
  makeRoot,
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metaFileOf,
  type PublishInput,
  parseMetadata,
  serialize,
  signerFrom,
  signWith,
  type TopLevelRoles,
  targetEntryOf,
} from '../../../src/publisher/tuf/index.ts';
import { metadataFilePath, publishRepository } from '../../../src/publisher/tuf/publish.ts';
import { tempDir, testKey } from '../../helpers.ts';

export interface RoleKeyPairs {
  readonly root: SigningKeyPair[];
  readonly approvers: SigningKeyPair[];
  readonly snapshot: SigningKeyPair[];
  readonly timestamp: SigningKeyPair[];
}

/** One root key, three approvers (two must sign targets), one snapshot and one timestamp key. */
export function roleKeyPairs(label: string): RoleKeyPairs {
  return {
    root: [testKey(`${label} root`)],
    approvers: [
      testKey(`${label} approver a`),
      testKey(`${label} approver b`),
      testKey(`${label} approver c`),
    ],
    snapshot: [testKey(`${label} snapshot`)],
    timestamp: [testKey(`${label} timestamp`)],
  };
}

export function rolesOf(keys: RoleKeyPairs): TopLevelRoles {
  const role = (pairs: SigningKeyPair[], threshold: number) => ({
    keys: pairs.map((p) => p.publicKey),
    threshold,
  });
  return {
    root: role(keys.root, 1),
    targets: role(keys.approvers, 2),
    snapshot: role(keys.snapshot, 1),
    timestamp: role(keys.timestamp, 1),
  };
}

export function signers(pairs: readonly SigningKeyPair[]) {
  return pairs.map(signerFrom);
}

export function firstRoot(keys: RoleKeyPairs, now?: Clock): Metadata<Root> {
  return signWith(makeRoot({ version: 1, roles: rolesOf(keys), now }), signers(keys.root));
}

export interface ReleaseOptions {
  readonly roots: Metadata<Root>[];
  readonly keys: RoleKeyPairs;
  /** Used for targets, snapshot and timestamp alike. */
  readonly version: number;
  readonly files: { name: string; bytes: Uint8Array }[];
  /** The approvers who sign targets; the first two by default. */
  readonly approvers?: SigningKeyPair[];
  readonly now?: Clock;
}

/** Targets, snapshot and timestamp for `files`, each signed by its role. */
export function release(options: ReleaseOptions): PublishInput {
  const { keys, version, now } = options;
  const targets = signWith(
    makeTargets({ version, now, targets: options.files.map((f) => targetEntryOf(f.name, f.bytes)) }),
    signers(options.approvers ?? keys.approvers.slice(0, 2)),
  );
  const snapshot = signWith(
    makeSnapshot({ version, now, targets: metaFileOf(targets) }),
    signers(keys.snapshot),
  );
  const timestamp = signWith(
    makeTimestamp({ version, now, snapshot: metaFileOf(snapshot) }),
    signers(keys.timestamp),
  );
  return { roots: options.roots, targets, snapshot, timestamp, contents: options.files };
}

/** Writes metadata files directly, the way an attacker with write access to the bucket would. */
export async function plant(dir: string, files: Record<string, AnyMetadata>): Promise<void> {
  for (const [path, metadata] of Object.entries(files)) await writeFile(join(dir, path), serialize(metadata));
}

/** A static file server for `dir` on 127.0.0.1: GET only, 404 for anything missing. Closed after the test file. */
export async function serve(dir: string): Promise<string> {
  const root = resolve(dir);
  const server = createServer((request, response) => {
    const path = resolve(root, `.${decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)}`);
    if (request.method !== 'GET' || !path.startsWith(root + sep)) {
      response.writeHead(404).end();
      return;
    }
    readFile(path).then(
      (data) => response.writeHead(200, { 'content-length': data.length }).end(data),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  after(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A stock tuf-js updater whose only trust is `trustedRoot` (the bytes of a published N.root.json), or,
 * given an earlier client's folders, one that starts from what that client stored (a device's next poll).
 */
/**
 * Version 1 of a repository with role keys made from `label` and one file, published into a new folder
 * and served: the folder, the keys, the root, the URL and the root bytes a device pins.
 */
export async function servedRepository(label: string, file: { name: string; bytes: Uint8Array }) {
  const dir = await tempDir();
  const keys = roleKeyPairs(label);
  const root = firstRoot(keys);
  await publishRepository(dir, release({ roots: [root], keys, version: 1, files: [file] }));
  const url = await serve(dir);
  const trusted = await readFile(join(dir, metadataFilePath('root', 1)));
  return { dir, keys, root, url, trusted };
}

export async function client(
  baseUrl: string,
  trusted: Uint8Array | { metadataDir: string; targetDir: string },
) {
  let metadataDir: string;
  let targetDir: string;
  if (trusted instanceof Uint8Array) {
    const dir = await tempDir();
    metadataDir = join(dir, 'metadata');
    targetDir = join(dir, 'targets');
    await mkdir(metadataDir);
    await mkdir(targetDir);
    await writeFile(join(metadataDir, 'root.json'), trusted);
  } else {
    ({ metadataDir, targetDir } = trusted);
  }
  const updater = new Updater({
    metadataBaseUrl: `${baseUrl}/metadata`,
    targetBaseUrl: `${baseUrl}/targets`,
    metadataDir,
    targetDir,
    config: { fetchRetry: 0 },
  });
  return { updater, metadataDir, targetDir };
}

/** The root version a client trusts now (tuf-js stores it as root.json). */
export async function trustedRootVersion(metadataDir: string): Promise<number> {
  return parseMetadata('root', await readFile(join(metadataDir, 'root.json'))).signed.version;
}

/** Refreshes, looks `name` up and downloads it; returns the downloaded bytes. */
export async function fetchTarget(updater: Updater, name: string): Promise<Uint8Array> {
  await updater.refresh();
  const info = await updater.getTargetInfo(name);
  if (!info) throw new Error(`the client does not know target ${name}`);
  return new Uint8Array(await readFile(await updater.downloadTarget(info)));
}
