// Fixed keys for the benchmark: the tests' trust (one root, three approvers, threshold two) and a fixed
// device key pair, so the pack and unpack workers agree without passing secrets between them.
import { type BoxKeyPair, boxKeyPairFromSecret } from '../src/core/crypto/index.ts';
import { makeTrust, type TestTrust } from '../test/support/fixtures.ts';

export interface BenchTrust extends TestTrust {
  /** The device an encrypted image's key envelope is sealed to. */
  readonly device: BoxKeyPair;
}

export function benchTrust(): BenchTrust {
  // Any 32 bytes are a valid X25519 secret.
  return {
    ...makeTrust(),
    device: boxKeyPairFromSecret(new TextEncoder().encode('bench-device'.padEnd(32, '.'))),
  };
}
