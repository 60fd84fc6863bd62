// Shared set-up of the format tests: a manifest of ten bytes of zeros, stored and unencrypted.
import { sha256 } from '../../../src/core/crypto/index.ts';
import type { Manifest } from '../../../src/core/format/manifest.ts';

/** The manifest of ten zero bytes, stored uncompressed and unencrypted, released as `model` `version`. */
export function tenByteManifest(model: string, version: string, securityVersion: number): Manifest {
  return {
    model,
    version,
    securityVersion,
    releaseId: new Uint8Array(16),
    created: 0,
    plaintextSize: 10,
    plaintextDigest: sha256(new Uint8Array(10)),
    compression: { algorithm: 'none', windowLog: 0, filter: 'none', compressedSize: 10 },
    encryption: { algorithm: 'none' },
    chunkSize: 256,
    payloadSize: 10,
    payloadDigest: sha256(new Uint8Array(10)),
  };
}
