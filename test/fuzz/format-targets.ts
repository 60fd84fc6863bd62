// Fuzz targets for the parts of the format one at a time: key envelopes, root chains, delegations,
// manifests, signature blocks and signed status reports. Besides "verification error or same meaning",
// each decoder must be canonical: whatever it accepts encodes back to the very same bytes.
import fc from 'fast-check';
import { generateBoxKeyPair } from '../../src/core/crypto/index.ts';
import {
  decodeSignedDelegation,
  encodeSignedDelegation,
  verifyDelegation,
} from '../../src/core/format/delegation.ts';
import { openEnvelope } from '../../src/core/format/envelope.ts';
import { decodeManifest, encodeManifest, streamBinding } from '../../src/core/format/manifest.ts';
import { decodeSignedReport, encodeReport, verifySignedReport } from '../../src/core/format/report.ts';
import { decodeRootChain, encodeRootChain, verifyRootChain } from '../../src/core/format/root-chain.ts';
import {
  decodeSignatureBlock,
  encodeSignatureBlock,
  verifyThreshold,
} from '../../src/core/format/signatures.ts';
import { imageMessage } from '../../src/core/image/index.ts';
import {
  type CorpusImage,
  corpusImages,
  delegations,
  deviceBox,
  envelopeOf,
  FIELD_LIMITS,
  pinnedRoot,
  reportKey,
  reports,
  rootChain,
  rootStatements,
  signedReport,
} from './corpus.ts';
import {
  applyByteMutations,
  applyPartMutation,
  byteMutations,
  partMutation,
  sameBytes,
} from './mutations.ts';
import { check, type FuzzTarget, outcome } from './target.ts';

function sameKeySet(
  a: { version: number; threshold: number; keys: readonly Uint8Array[] },
  b: typeof a,
): boolean {
  return (
    a.version === b.version &&
    a.threshold === b.threshold &&
    a.keys.length === b.keys.length &&
    a.keys.every((k, i) => sameBytes(k, b.keys[i] as Uint8Array))
  );
}

export const envelopeTarget: FuzzTarget = {
  name: 'envelope',
  quickRuns: 2000,
  async property() {
    const corpus = await corpusImages();
    const encrypted = corpus.filter((c) => c.contentKey !== null);
    const image = encrypted[0] as CorpusImage;
    const valid = envelopeOf(image);
    const binding = streamBinding(image.manifestBytes);
    // Donors: the other image's envelope for this device, and this image's for another device.
    const donors = [
      envelopeOf(encrypted[1] as CorpusImage),
      envelopeOf(image, generateBoxKeyPair().publicKey),
    ];
    return fc.asyncProperty(byteMutations(FIELD_LIMITS), async (mutations) => {
      const bytes = applyByteMutations(valid, mutations, donors);
      const result = await outcome(() => openEnvelope(bytes, deviceBox, binding));
      if (result.ok) {
        check(sameBytes(bytes, valid), 'a changed envelope opened');
        check(sameBytes(result.value, image.contentKey as Uint8Array), 'opened to another key');
      }
      return true;
    });
  },
};

/** A root chain as parts: its 4-byte count, then per statement body, old-key block and own block. */
function chainParts(): Uint8Array[] {
  const parts = [rootChain.subarray(0, 4)];
  for (const s of rootStatements) {
    parts.push(s.body, encodeSignatureBlock(s.previous), encodeSignatureBlock(s.own));
  }
  return parts;
}

export const rootChainTarget: FuzzTarget = {
  name: 'root-chain',
  quickRuns: 2000,
  async property() {
    const parts = chainParts();
    const donorParts = [[...parts].reverse()];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('bytes' as const), mutations: byteMutations(FIELD_LIMITS) }),
      fc.record({ kind: fc.constant('parts' as const), mutation: partMutation(FIELD_LIMITS) }),
    );
    const endorsed = [pinnedRoot, ...rootStatements.map((s) => s.root)];
    return fc.asyncProperty(mutation, async (m) => {
      const bytes =
        m.kind === 'bytes'
          ? applyByteMutations(rootChain, m.mutations, [delegations[0] as Uint8Array])
          : new Uint8Array(Buffer.concat(applyPartMutation(parts, m.mutation, donorParts)));
      const result = await outcome(() => {
        const chain = decodeRootChain(bytes);
        const root = verifyRootChain(chain, pinnedRoot);
        // Signature order is checked by verification, not decoding: canonical once verified.
        check(sameBytes(encodeRootChain(chain), bytes), 'a verified root chain is not canonical');
        return root;
      });
      // A prefix of a valid chain is valid; what must never happen is trusting a root nobody endorsed.
      if (result.ok)
        check(
          endorsed.some((r) => sameKeySet(r, result.value)),
          `trusted a root that no statement endorsed: version ${result.value.version}`,
        );
      return true;
    });
  },
};

export const delegationTarget: FuzzTarget = {
  name: 'delegation',
  quickRuns: 2000,
  async property() {
    const valid = delegations[0] as Uint8Array;
    const original = decodeSignedDelegation(valid).delegation;
    return fc.asyncProperty(byteMutations(FIELD_LIMITS), async (mutations) => {
      const bytes = applyByteMutations(valid, mutations, [delegations[1] as Uint8Array]);
      const result = await outcome(() => {
        const signed = decodeSignedDelegation(bytes);
        const delegation = verifyDelegation(signed, pinnedRoot, 0);
        check(
          sameBytes(encodeSignedDelegation(signed.body, signed.signatures), bytes),
          'a verified delegation is not canonical',
        );
        return delegation;
      });
      if (result.ok) check(sameKeySet(result.value, original), 'a changed delegation verified');
      return true;
    });
  },
};

export const manifestTarget: FuzzTarget = {
  name: 'manifest',
  quickRuns: 3000,
  async property() {
    const manifests = (await corpusImages()).map((c) => c.manifestBytes);
    return fc.asyncProperty(
      fc.nat(manifests.length - 1),
      byteMutations(FIELD_LIMITS),
      async (which, mutations) => {
        const bytes = applyByteMutations(manifests[which] as Uint8Array, mutations, manifests);
        // Unsigned on its own, so a changed manifest may decode; then it must be the one encoding of it.
        await outcome(() => {
          const manifest = decodeManifest(bytes);
          check(sameBytes(encodeManifest(manifest), bytes), 'the manifest decoder is not canonical');
        });
        return true;
      },
    );
  },
};

export const signatureBlockTarget: FuzzTarget = {
  name: 'signature-block',
  quickRuns: 2000,
  async property() {
    const corpus = await corpusImages();
    const image = corpus[0] as CorpusImage;
    const valid = image.parts[3] as Uint8Array;
    const message = imageMessage(image.manifestBytes);
    const delegation = decodeSignedDelegation(image.parts[2] as Uint8Array).delegation;
    const donors = corpus.map((c) => c.parts[3] as Uint8Array);
    return fc.asyncProperty(byteMutations(FIELD_LIMITS), async (mutations) => {
      const bytes = applyByteMutations(valid, mutations, donors);
      const result = await outcome(() => {
        const entries = decodeSignatureBlock(bytes);
        const signers = verifyThreshold(message, entries, delegation, 'image');
        check(sameBytes(encodeSignatureBlock(entries), bytes), 'a verified signature block is not canonical');
        return signers;
      });
      if (result.ok) check(sameBytes(bytes, valid), 'a changed signature block verified');
      return true;
    });
  },
};

export const reportTarget: FuzzTarget = {
  name: 'report',
  quickRuns: 2000,
  async property() {
    const mutation = fc.record({
      which: fc.nat(reports.length - 1),
      // Re-signed: a device (or its owner) that signs a malformed body; the server must still refuse it.
      resign: fc.boolean(),
      mutations: byteMutations([4096, 4096 - 72]),
    });
    return fc.asyncProperty(mutation, async (m) => {
      const original = reports[m.which] as (typeof reports)[number];
      if (m.resign) {
        const body = applyByteMutations(
          original.body,
          m.mutations,
          reports.map((r) => r.body),
        );
        if (body.length > 4096 - 72) return true;
        const result = await outcome(() => decodeSignedReport(signedReport(body)));
        if (result.ok)
          check(sameBytes(encodeReport(result.value.report), body), 'a non-canonical body was accepted');
        return true;
      }
      const bytes = applyByteMutations(
        original.bytes,
        m.mutations,
        reports.map((r) => r.bytes),
      );
      const result = await outcome(() => verifySignedReport(bytes, reportKey.publicKey));
      // Splicing in all of another report gives that report, which its device did sign.
      if (result.ok)
        check(
          reports.some((r) => sameBytes(bytes, r.bytes)),
          'a report its device never signed verified',
        );
      return true;
    });
  },
};
