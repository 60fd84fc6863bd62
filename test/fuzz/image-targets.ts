// Fuzz targets for sealed images: verify and unpack as a device would (core), and the same images staged
// on a simulated device and booted (bootloader). Mutations are byte-level on the whole image, or whole
// parts (header, manifest, delegation, signatures, root chain, payload) changed, taken from another
// image, swapped, repeated or dropped, laid out again behind a header whose lengths fit them.
import fc from 'fast-check';
import { familyOf } from '../../src/core/errors.ts';
import { ENVELOPE_BYTES } from '../../src/core/format/envelope.ts';
import { encodeHeader } from '../../src/core/format/header.ts';
import {
  type ByteSink,
  type ByteSource,
  bufferSource,
  unpackPayload,
  verifyImage,
} from '../../src/core/image/index.ts';
import { LIMITS } from '../../src/core/limits.ts';
import {
  type CorpusImage,
  corpusDevice,
  corpusImages,
  envelopeOf,
  FIELD_LIMITS,
  MODEL,
  OLD_FIRMWARE,
  pinnedRoot,
} from './corpus.ts';
import {
  applyByteMutations,
  applyPartMutation,
  type ByteMutation,
  byteMutations,
  type PartMutation,
  partMutation,
  sameBytes,
} from './mutations.ts';
import { check, type FuzzTarget, outcome, refusals } from './target.ts';

export type ImageMutation =
  | { readonly kind: 'bytes'; readonly mutations: readonly ByteMutation[] }
  | { readonly kind: 'parts'; readonly mutation: PartMutation };

export const imageMutation: fc.Arbitrary<ImageMutation> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('bytes' as const), mutations: byteMutations(FIELD_LIMITS) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('parts' as const), mutation: partMutation(FIELD_LIMITS) }),
  },
);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** The image with `m` applied. Parts are laid out behind a fitting header unless the header itself changed. */
export function mutateImage(
  image: CorpusImage,
  m: ImageMutation,
  corpus: readonly CorpusImage[],
): Uint8Array {
  const donors = corpus.filter((c) => c !== image);
  if (m.kind === 'bytes')
    return applyByteMutations(
      image.bytes,
      m.mutations,
      donors.map((d) => d.bytes),
    );
  const parts = applyPartMutation(
    image.parts,
    m.mutation,
    donors.map((d) => d.parts),
  );
  const touchesHeader =
    (m.mutation.kind === 'swap' &&
      (m.mutation.a % parts.length === 0 || m.mutation.b % parts.length === 0)) ||
    ('part' in m.mutation && m.mutation.part % parts.length === 0);
  if (touchesHeader) return concat(parts);
  const [, manifest, delegation, signatures, chain, payload] = parts as [Uint8Array, ...Uint8Array[]];
  const lengths = [manifest, delegation, signatures, chain].map((p) => (p as Uint8Array).length);
  // A part grown past its limit cannot have a header that fits it: keep the original header then.
  const fits =
    (lengths[0] as number) <= LIMITS.manifestBytes &&
    (lengths[1] as number) <= LIMITS.delegationBytes &&
    (lengths[2] as number) <= LIMITS.signatureBlockBytes &&
    (lengths[3] as number) <= LIMITS.rootChainBytes;
  const header = fits
    ? encodeHeader({
        manifestLength: lengths[0] as number,
        delegationLength: lengths[1] as number,
        signatureBlockLength: lengths[2] as number,
        rootChainLength: lengths[3] as number,
        payloadLength: (payload as Uint8Array).length,
      })
    : (parts[0] as Uint8Array);
  return concat([header, ...parts.slice(1)]);
}

/** A source that notes every read outside the image, and how many bytes were read in all. */
function countingSource(bytes: Uint8Array): ByteSource & { readonly problems: string[]; total: number } {
  const inner = bufferSource(bytes);
  const state = {
    size: bytes.length,
    problems: [] as string[],
    total: 0,
    read: async (offset: number, length: number, buffer?: Uint8Array) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
        state.problems.push(`read(${offset}, ${length})`);
      else if (offset + length > bytes.length)
        state.problems.push(`read(${offset}, ${length}) past ${bytes.length}`);
      state.total += length;
      return inner.read(offset, length, buffer);
    },
  };
  return state;
}

function collector(): ByteSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return { write: async (chunk) => void parts.push(new Uint8Array(chunk)), bytes: () => concat(parts) };
}

export const imageTarget: FuzzTarget = {
  name: 'image',
  quickRuns: 1500,
  async property() {
    const corpus = await corpusImages();
    return fc.asyncProperty(fc.nat(corpus.length - 1), imageMutation, async (which, m) => {
      const image = corpus[which] as CorpusImage;
      const bytes = mutateImage(image, m, corpus);
      const same = corpus.find((c) => sameBytes(c.bytes, bytes));
      const source = countingSource(bytes);
      const result = await outcome(async () => {
        const verified = await verifyImage(
          source,
          { root: pinnedRoot, rootVersion: 1 },
          { model: MODEL, minSecurityVersion: 1, readBytes: 1024 },
        );
        const sink = collector();
        await unpackPayload(source, verified, image.contentKey, sink, { readBytes: 1024 });
        return sink.bytes();
      });
      check(source.problems.length === 0, `reads outside the image: ${source.problems.join(', ')}`);
      // Every byte is read at most twice: once to verify, once to unpack.
      check(source.total <= 2 * bytes.length, `read ${source.total} bytes of a ${bytes.length}-byte image`);
      if (result.ok) {
        check(same !== undefined, 'a changed image was accepted');
        check(
          sameBytes(result.value, (same as CorpusImage).firmware),
          'accepted, but unpacked to other firmware',
        );
      } else {
        check(same !== image, `the unchanged image was refused: ${result.code}`);
      }
      return true;
    });
  },
};

type StagedMutation =
  | { readonly kind: 'image'; readonly mutation: ImageMutation }
  | { readonly kind: 'envelope'; readonly mutations: readonly ByteMutation[] }
  | { readonly kind: 'lengths'; readonly image: number; readonly envelope: number };

const stagedMutation: fc.Arbitrary<StagedMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('image' as const), mutation: imageMutation }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('envelope' as const), mutations: byteMutations() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('lengths' as const),
      image: fc.integer({ min: -300, max: 300 }),
      envelope: fc.integer({ min: -ENVELOPE_BYTES, max: 300 }),
    }),
  },
);

export const bootloaderTarget: FuzzTarget = {
  name: 'bootloader',
  quickRuns: 400,
  async property() {
    const corpus = await corpusImages();
    const factory = await corpusDevice(OLD_FIRMWARE, 4096);
    const box = factory.secureElement.identity().box;
    const envelopes = corpus.map((c) => (c.contentKey ? envelopeOf(c, box) : new Uint8Array(0)));
    const slotBefore = factory.executable(factory.layout.executable.size);
    return fc.asyncProperty(fc.nat(corpus.length - 1), stagedMutation, async (which, m) => {
      const image = corpus[which] as CorpusImage;
      const envelope = envelopes[which] as Uint8Array;
      const device = factory.clone();
      let staged = image.bytes;
      let stagedEnvelope = envelope;
      if (m.kind === 'image') staged = mutateImage(image, m.mutation, corpus);
      if (m.kind === 'envelope') stagedEnvelope = applyByteMutations(envelope, m.mutations, envelopes);
      const staging = device.layout.staging.size;
      if (staged.length === 0 || staged.length + stagedEnvelope.length > staging) return true;
      device.stage(staged, stagedEnvelope.length > 0 ? stagedEnvelope : undefined);
      let imageLength = staged.length;
      let envelopeLength = stagedEnvelope.length;
      if (m.kind === 'lengths') {
        imageLength = Math.max(1, staged.length + m.image);
        envelopeLength = Math.max(0, Math.min(staging - imageLength, stagedEnvelope.length + m.envelope));
        device.markPending(
          imageLength,
          envelopeLength,
          device.bootState()?.stagedManifest ?? new Uint8Array(32),
        );
      }
      const counters = device.secureElement.trust();
      const report = await device.boot();
      if (report.reason) refusals.set(report.reason, (refusals.get(report.reason) ?? 0) + 1);
      const imageSame = imageLength === image.bytes.length && sameBytes(staged, image.bytes);
      const envelopeSame =
        envelopeLength === ENVELOPE_BYTES && sameBytes(stagedEnvelope.subarray(0, envelopeLength), envelope);
      const shouldInstall = imageSame && (image.contentKey === null || envelopeSame);
      if (shouldInstall) {
        check(
          report.installed && report.outcome === 'booted',
          `the unchanged image was refused: ${report.reason}`,
        );
        check(sameBytes(device.executable(image.firmware.length), image.firmware), 'installed other bytes');
        return true;
      }
      check(!report.installed && report.outcome === 'rejected', 'a changed image was installed');
      const reason = report.reason ?? '';
      check(
        reason === 'STAGING_INVALID' || familyOf(reason as never) === 'verification',
        `refused for a reason outside the verification family: ${reason}`,
      );
      check(
        sameBytes(device.executable(slotBefore.length), slotBefore),
        'the executable slot changed for a refused image',
      );
      const after = device.secureElement.trust();
      check(
        after.securityCounter === counters.securityCounter &&
          after.delegationVersion === counters.delegationVersion &&
          after.rootVersion === counters.rootVersion,
        'counters moved for a refused image',
      );
      return true;
    });
  },
};
