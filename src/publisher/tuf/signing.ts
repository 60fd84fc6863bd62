// Signing TUF metadata and counting valid signatures, both through src/core/crypto. A role's metadata
// is signed over the canonical JSON of its `signed` part (spec §4.2); a new root must satisfy the old
// root's threshold and its own (client workflow §5.3.4), which rotateRoot guarantees before returning.
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, type Root, Signature } from '@tufjs/models';
import { SIGNATURE_BYTES, verify } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { fromHex, toHex, utf8 } from '../../core/format/bytes.ts';
import type { ExpiryOptions, TopLevelRole } from './expiry.ts';
import { publicKeyOfTufKey, type Signer, signChecked, tufKeyIdOf } from './keys.ts';
import { type AnyMetadata, makeRoot, type TopLevelRoles } from './metadata.ts';

const SIGNATURE_HEX = new RegExp(`^[0-9a-f]{${SIGNATURE_BYTES * 2}}$`);

/** The bytes every signature covers: canonical JSON of the `signed` object. */
export function signedBytes(metadata: AnyMetadata): Uint8Array {
  return utf8.encode(canonicalize(metadata.signed.toJSON()));
}

/** A copy of `metadata` with one more signature per signer (a signer that already signed is replaced). */
export function signWith<M extends AnyMetadata>(metadata: M, signers: readonly Signer[]): M {
  if (signers.length === 0) throw new SihlError('USAGE', 'no signers given');
  const bytes = signedBytes(metadata);
  const signatures: Record<string, Signature> = { ...metadata.signatures };
  for (const signer of signers) {
    const keyID = tufKeyIdOf(signer.publicKey);
    signatures[keyID] = new Signature({ keyID, sig: toHex(signChecked(signer, bytes)) });
  }
  return new Metadata(metadata.signed, signatures, { ...metadata.unrecognizedFields }) as M;
}

/**
 * The key ids of `role` in `root` that made a valid signature on `metadata`. A key that is not an
 * Ed25519 key sihl could have written, or a malformed signature, simply does not count.
 */
export function validSigners(root: Root, role: TopLevelRole, metadata: AnyMetadata): string[] {
  const roleKeys = root.roles[role];
  if (!roleKeys) return [];
  const bytes = signedBytes(metadata);
  const valid: string[] = [];
  for (const keyID of new Set(roleKeys.keyIDs)) {
    const key = root.keys[keyID];
    const signature = metadata.signatures[keyID];
    if (!key || !signature || !SIGNATURE_HEX.test(signature.sig)) continue;
    let publicKey: Uint8Array;
    try {
      publicKey = publicKeyOfTufKey(key);
    } catch {
      continue;
    }
    if (verify(publicKey, bytes, fromHex(signature.sig))) valid.push(keyID);
  }
  return valid;
}

/** Throws SIGNATURE_THRESHOLD unless a threshold of `role`'s keys in `root` signed `metadata`. */
export function checkThreshold(
  root: Root,
  role: TopLevelRole,
  metadata: AnyMetadata,
  what: string = role,
): void {
  const threshold = root.roles[role]?.threshold ?? Number.POSITIVE_INFINITY;
  const count = validSigners(root, role, metadata).length;
  if (count < threshold) {
    throw new SihlError(
      'SIGNATURE_THRESHOLD',
      `${what} is signed by ${count} of the ${threshold} ${role} keys of root version ${root.version} it needs`,
    );
  }
}

/** Checks that `next` may follow `previous` as a client would (spec §5.3.4 and §5.3.5). */
export function checkRootSuccession(previous: Metadata<Root>, next: Metadata<Root>): void {
  const expected = previous.signed.version + 1;
  // §5.3.5: root versions rise by exactly one, so a client can walk every step.
  if (next.signed.version !== expected) {
    throw new SihlError(
      'USAGE',
      `root version ${next.signed.version} cannot follow ${previous.signed.version}`,
    );
  }
  // §5.3.4: a threshold of the old root keys, then a threshold of the new root keys.
  checkThreshold(previous.signed, 'root', next, `root version ${expected}`);
  checkThreshold(next.signed, 'root', next, `root version ${expected}`);
}

function checkSignersIn(root: Root, signers: readonly Signer[], which: string): void {
  const roleKeys = new Set(root.roles.root?.keyIDs ?? []);
  for (const signer of signers) {
    const keyID = tufKeyIdOf(signer.publicKey);
    if (!roleKeys.has(keyID)) {
      throw new SihlError('SIGNATURE_UNKNOWN_KEY', `key ${keyID} is not a root key of the ${which} root`);
    }
  }
}

/**
 * The root that follows `previous`: version + 1 with `roles`, signed by the old root keys in
 * `signersOld` and the new ones in `signersNew` (a key in both signs once). Throws unless both the old
 * and the new root role's thresholds are met, so the result is one every client can walk to.
 */
export function rotateRoot(
  previous: Metadata<Root>,
  roles: TopLevelRoles,
  signersOld: readonly Signer[],
  signersNew: readonly Signer[],
  options: ExpiryOptions = {},
): Metadata<Root> {
  const unsigned = makeRoot({ ...options, version: previous.signed.version + 1, roles });
  checkSignersIn(previous.signed, signersOld, 'previous');
  checkSignersIn(unsigned.signed, signersNew, 'new');
  const signers = new Map<string, Signer>();
  for (const signer of [...signersOld, ...signersNew]) signers.set(tufKeyIdOf(signer.publicKey), signer);
  const next = signers.size === 0 ? unsigned : signWith(unsigned, [...signers.values()]);
  checkRootSuccession(previous, next);
  return next;
}
