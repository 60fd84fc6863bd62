// Fixed keys and the Pybricks firmware corpus, shared by the tests and the benchmark. No node:test here,
// so the benchmark can import it.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { type SigningKeyPair, signingKeyPairFromSeed } from '../../src/core/crypto/index.ts';
import {
  delegationMessage,
  encodeDelegationBody,
  encodeSignedDelegation,
} from '../../src/core/format/delegation.ts';
import { type KeySet, signEntry } from '../../src/core/format/signatures.ts';

/** A fixed key pair per label, so failures reproduce. */
export function testKey(label: string): SigningKeyPair {
  const seed = new Uint8Array(32);
  seed.set(new TextEncoder().encode(label.padEnd(32, '.')).subarray(0, 32));
  return signingKeyPairFromSeed(seed);
}

export interface TestTrust {
  readonly roots: SigningKeyPair[];
  readonly root: KeySet;
  readonly approvers: SigningKeyPair[];
  readonly delegation: Uint8Array;
}

export function makeDelegation(
  roots: readonly SigningKeyPair[],
  approvers: readonly SigningKeyPair[],
  options: { version?: number; threshold?: number } = {},
): Uint8Array {
  const body = encodeDelegationBody({
    version: options.version ?? 1,
    threshold: options.threshold ?? 2,
    keys: approvers.map((a) => a.publicKey),
  });
  const message = delegationMessage(body);
  return encodeSignedDelegation(
    body,
    roots.map((r) => signEntry(r.secretKey, r.publicKey, message)),
  );
}

/** One root key, three approvers, threshold two, delegation version 1. */
export function makeTrust(options: { version?: number } = {}): TestTrust {
  const roots = [testKey('root-1')];
  const approvers = [testKey('alice'), testKey('bob'), testKey('carol')];
  return {
    roots,
    root: { keys: roots.map((r) => r.publicKey), threshold: 1 },
    approvers,
    delegation: makeDelegation(roots, approvers, options),
  };
}

const require = createRequire(import.meta.url);

/** The seven firmware builds of @pybricks/firmware (name → firmware-base.bin bytes). */
/** The current release (7.28.0) and the one before it (7.27.0, installed under an npm alias). */
export const PYBRICKS = '@pybricks/firmware';
export const PYBRICKS_PREVIOUS = 'pybricks-firmware-previous';

export async function pybricksCorpus(pkg = PYBRICKS): Promise<Map<string, Uint8Array>> {
  const build = join(dirname(require.resolve(`${pkg}/package.json`)), 'build');
  const out = new Map<string, Uint8Array>();
  for (const file of (await readdir(build)).filter((f) => f.endsWith('.zip')).sort()) {
    out.set(file.replace(/\.zip$/, ''), await pybricksFirmware(pkg, file.replace(/\.zip$/, '')));
  }
  return out;
}

/** firmware-base.bin of one hub from a Pybricks firmware package. */
export async function pybricksFirmware(pkg: string, hub: string): Promise<Uint8Array> {
  const build = join(dirname(require.resolve(`${pkg}/package.json`)), 'build');
  const entries = unzipSync(new Uint8Array(await readFile(join(build, `${hub}.zip`))), {
    filter: (entry) => entry.name === 'firmware-base.bin',
  });
  const firmware = entries['firmware-base.bin'];
  if (!firmware) throw new Error(`${pkg} has no firmware-base.bin for ${hub}`);
  return firmware;
}

/**
 * A PEM block, assembled here so that no file of the project holds a PEM private key header as text
 * (the tests need some, made-up or from RFC 8410, to prove they are found and refused).
 */
export function pem(label: string, body: string): string {
  const dashes = '-'.repeat(5);
  return `${dashes}BEGIN ${label}${dashes}\n${body}\n${dashes}END ${label}${dashes}\n`;
}

/**
 * Firmware-like bytes, the same for the same arguments: 64-byte blocks of xorshift noise, and blocks that
 * `isText` picks (by block number) filled from `phrase` repeated, so they compress some.
 */
export function firmwareLike(
  size: number,
  seed: number,
  phrase: string,
  isText: (block: number) => boolean,
): Uint8Array {
  const out = new Uint8Array(size);
  const text = new TextEncoder().encode(phrase);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    if (isText(i >> 6)) {
      out[i] = text[i % text.length] as number;
    } else {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
  }
  return out;
}
