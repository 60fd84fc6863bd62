// Fuzz target for the boot-state area (docs/BOOT.md §Record log): a device that installed one image and
// has a second staged has its two boot-state sectors damaged, either as raw flash (bits, records moved,
// repeated or taken from elsewhere) or as a new record with a valid checksum around a mutated payload
// (what a bootloader of another version might have written, tagged by the device's secure element). The
// boot must complete, and the executable slot must hold what it held, the staged image that verified, or
// a firmware it ran before (a replayed trial record reverts to the backup), nothing else.
import fc from 'fast-check';
import {
  BOOT_RECORD_BYTES,
  decodeBootState,
  encodeBootState,
  tagged,
} from '../../src/device/bootloader/boot-state.ts';
import { RecordLog } from '../../src/device/flash/record-log.ts';
import { SimulatedFlash } from '../../src/device/flash/simulated-flash.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { type CorpusImage, corpusDevice, corpusImages, envelopeOf, OLD_FIRMWARE } from './corpus.ts';
import {
  applyByteMutations,
  applyPartMutation,
  type ByteMutation,
  byteMutations,
  type PartMutation,
  partMutation,
  sameBytes,
} from './mutations.ts';
import { check, Finding, type FuzzTarget, outcome, refusals } from './target.ts';

const RECORD_SIZE = BOOT_RECORD_BYTES;
const TAG_BYTES = 32;

type AreaMutation =
  | { readonly kind: 'payload'; readonly base: number; readonly mutations: readonly ByteMutation[] }
  | { readonly kind: 'raw'; readonly mutations: readonly ByteMutation[] }
  | { readonly kind: 'records'; readonly mutation: PartMutation };

const areaMutation: fc.Arbitrary<AreaMutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('payload' as const),
      base: fc.nat(),
      mutations: byteMutations([32, 64, 65, 255, 256]),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), mutations: byteMutations([256]) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('records' as const), mutation: partMutation() }) },
);

export const bootStateTarget: FuzzTarget = {
  name: 'boot-state',
  quickRuns: 400,
  async property() {
    const corpus = await corpusImages();
    const [installed, , staged] = corpus as [CorpusImage, CorpusImage, CorpusImage];
    const base = await corpusDevice(OLD_FIRMWARE, 4096);
    base.stage(installed.bytes, envelopeOf(installed, base.secureElement.identity().box));
    const first = await base.boot();
    if (!first.installed) throw new Error(`the corpus image did not install: ${first.reason}`);
    base.confirm();
    // The staged one (uncompressed, with a root chain) is encrypted too.
    base.stage(staged.bytes, envelopeOf(staged, base.secureElement.identity().box));
    const slotSize = base.layout.executable.size;
    const slotBefore = base.executable(slotSize);
    const region = base.layout.bootState;
    const history: Uint8Array[] = [];
    const log = new RecordLog(base.flash, region, RECORD_SIZE);
    const latest = log.latest();
    if (latest) history.push(latest.payload.subarray(0, latest.payload.length - TAG_BYTES));
    const area = base.flash.read(region.offset, region.size);
    const slots = Array.from({ length: region.size / RECORD_SIZE }, (_, i) =>
      area.slice(i * RECORD_SIZE, (i + 1) * RECORD_SIZE),
    );
    const donorSlots = [[...slots].reverse()];
    return fc.asyncProperty(areaMutation, async (m) => {
      const flash = new SimulatedFlash(
        base.flash.geometry,
        base.flash.memory.slice(),
        base.flash.erases.slice(),
      );
      const device = new SimulatedDevice(base.model, flash, base.layout);
      if (m.kind === 'payload') {
        const payload = applyByteMutations(
          history[m.base % history.length] as Uint8Array,
          m.mutations,
          history,
        );
        if (payload.length > RECORD_SIZE - 12 - TAG_BYTES) return true;
        // The decoder itself: a refusal is a SihlError (its own area, so INTERNAL), never a TypeError.
        const decoded = await outcome(() => decodeBootState(payload), ['INTERNAL']);
        if (decoded.ok)
          check(
            sameBytes(encodeBootState(decoded.value), payload),
            'the boot-state decoder is not canonical',
          );
        const element = device.secureElement;
        new RecordLog(flash, region, RECORD_SIZE).append((sequence) =>
          Buffer.concat([payload, element.tagRecord(tagged(sequence, payload))]),
        );
      } else {
        const bytes =
          m.kind === 'raw'
            ? applyByteMutations(area, m.mutations)
            : new Uint8Array(Buffer.concat(applyPartMutation(slots, m.mutation, donorSlots)));
        const fitted = new Uint8Array(region.size).fill(0xff);
        fitted.set(bytes.subarray(0, region.size));
        flash.memory.set(fitted, region.offset);
      }
      let report: Awaited<ReturnType<SimulatedDevice['boot']>>;
      try {
        device.bootState(); // must not throw, whatever the area holds
        report = await device.boot();
      } catch (error) {
        throw new Finding(`boot threw: ${(error as Error).stack ?? String(error)}`, { cause: error });
      }
      const reason = report.reason ?? (report.installed ? 'installed' : 'booted');
      refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
      const slot = device.executable(slotSize);
      if (!sameBytes(slot, slotBefore) && report.outcome !== 'halted') {
        // Only an install of the staged image, which verified, or a revert to a firmware that ran here
        // before, may change the slot.
        check(
          (report.installed && report.outcome === 'booted') || report.outcome === 'reverted',
          `the executable slot changed (${report.reason})`,
        );
        const whole = [staged.firmware, installed.firmware, OLD_FIRMWARE].some((f) =>
          sameBytes(slot.subarray(0, f.length), f),
        );
        check(whole, 'the slot holds no firmware whole');
      }
      return true;
    });
  },
};
