// The devices of test/bootloader/c-boot.test.ts's rejection and vector cases: a flash each, to be
// booted by both bootloaders. No node:test here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { here, type RootJson, type VectorCase } from '../../docs/vectors/generate.ts';
import { sha256 } from '../../src/core/crypto/hash.ts';
import { fromHex } from '../../src/core/format/bytes.ts';
import { decodeManifest } from '../../src/core/format/manifest.ts';
import { BootStateStore } from '../../src/device/bootloader/boot-state.ts';
import { SimulatedDevice } from '../../src/device/simulator/simulated-device.ts';
import { HUB, NEW, OLD } from '../device/matrix-support.ts';
import { envelopeFor, type Packed, pack } from '../device/support.ts';

export interface Case {
  readonly name: string;
  readonly device: SimulatedDevice;
  /** The reason the boot state records afterwards ('' for none). */
  readonly expect: string;
}

/** `image || envelope` put in staging by hand (no agent's check) and marked pending. */
function staged(from: SimulatedDevice, image: Uint8Array, envelope?: Uint8Array, digest?: Uint8Array) {
  const device = from.clone();
  device.eraseStaging(0, device.layout.staging.size);
  device.flash.memory.set(image, device.layout.staging.offset);
  if (envelope) device.flash.memory.set(envelope, device.layout.staging.offset + image.length);
  const manifest = image.subarray(32, 32 + new DataView(image.buffer, image.byteOffset).getUint32(8, true));
  device.markPending(image.length, envelope?.length ?? 0, digest ?? sha256(manifest));
  return device;
}

const lzma2 = { compression: 'lzma2', filter: 'thumb' } as const;

/** The pending device with `image` staged in place of its own. */
const restaged = (pending: SimulatedDevice, image: Packed) =>
  staged(pending, image.bytes, envelopeFor(pending, image) ?? undefined);

function changed(from: SimulatedDevice, offset: number): SimulatedDevice {
  const device = from.clone();
  device.flash.memory[offset] = (device.flash.memory[offset] as number) ^ 0x01;
  return device;
}

/** Refusals of §Install, §Revert, §Damaged boot state and §Starting, from an encrypted pending device. */
export async function rejectionCases(pending: SimulatedDevice): Promise<Case[]> {
  const { layout } = pending;
  const state = pending.bootState();
  if (!state) throw new Error('the pending device has a boot state');
  const image = pending.readStaging(0, state.stagedImage);
  const envelope = pending.readStaging(state.stagedImage, state.stagedEnvelope);
  const trial = pending.clone();
  await trial.boot();
  const idle = trial.clone();
  idle.confirm();
  const older = await pack(OLD, { ...lzma2, model: HUB, version: '7.26.0', securityVersion: 1 });
  const same = await pack(NEW, { ...lzma2, model: HUB, version: '7.27.0', securityVersion: 1 });
  const downgrade = await pack(OLD, { ...lzma2, model: HUB, version: '7.26.0', downgrade: true });
  const otherModel = await pack(NEW, { ...lzma2, model: 'movehub', version: '7.28.0' });
  const counted = pending.clone();
  counted.secureElement.advance(2, 0);
  const tooLong = pending.clone();
  new BootStateStore(tooLong.flash, layout.bootState, tooLong.secureElement).write({
    ...state,
    stagedImage: layout.staging.size,
  });
  const garbage = pending.clone();
  garbage.flash.memory.fill(0x5a, layout.bootState.offset, layout.bootState.offset + layout.bootState.size);
  const erasedCounters = pending.clone();
  const sector = pending.flash.geometry.sectorSize;
  erasedCounters.flash.memory.fill(
    0xff,
    layout.secureElement.offset + sector,
    layout.secureElement.offset + 3 * sector,
  );
  return [
    {
      name: 'an older version: VERSION_ROLLBACK',
      device: restaged(pending, older),
      expect: 'VERSION_ROLLBACK',
    },
    {
      name: 'the running version again: VERSION_ROLLBACK',
      device: restaged(pending, same),
      expect: 'VERSION_ROLLBACK',
    },
    {
      name: 'an older version signed as a downgrade installs',
      device: restaged(pending, downgrade),
      expect: '',
    },
    {
      name: 'another model: MODEL_MISMATCH',
      device: restaged(pending, otherModel),
      expect: 'MODEL_MISMATCH',
    },
    {
      name: 'a pending record naming another manifest: STAGING_MISMATCH',
      device: staged(pending, image, envelope, new Uint8Array(32)),
      expect: 'STAGING_MISMATCH',
    },
    {
      name: 'no envelope for an encrypted image: ENVELOPE_REQUIRED',
      device: staged(pending, image),
      expect: 'ENVELOPE_REQUIRED',
    },
    {
      name: 'an envelope of another length: ENVELOPE_MALFORMED',
      device: staged(pending, image, envelope.subarray(0, 100)),
      expect: 'ENVELOPE_MALFORMED',
    },
    {
      name: 'staged lengths beyond the staging slot: STAGING_INVALID',
      device: tooLong,
      expect: 'STAGING_INVALID',
    },
    {
      name: 'a security counter above the image: SECURITY_VERSION_ROLLBACK',
      device: counted,
      expect: 'SECURITY_VERSION_ROLLBACK',
    },
    {
      name: 'a counter log erased: SECURE_ELEMENT_DAMAGED',
      device: erasedCounters,
      expect: 'SECURE_ELEMENT_DAMAGED',
    },
    {
      name: 'the running firmware changed while pending: SLOT_NOT_INTACT',
      device: changed(pending, layout.executable.offset + 1000),
      expect: 'SLOT_NOT_INTACT',
    },
    {
      name: 'the backup changed during a trial: BACKUP_DAMAGED, the trial keeps running',
      device: changed(trial, layout.backup.offset + 1000),
      expect: 'BACKUP_DAMAGED',
    },
    { name: 'a boot state of garbage: BOOT_STATE_CORRUPT', device: garbage, expect: 'BOOT_STATE_CORRUPT' },
    {
      name: 'an executable slot that is not what the boot state records: halted',
      device: changed(idle, layout.executable.offset + 1000),
      expect: '',
    },
  ];
}

interface VectorDocument {
  root: RootJson;
  device: { x25519Secret: string };
  cases: VectorCase[];
}

export interface VectorDevice {
  readonly name: string;
  readonly device: SimulatedDevice;
  readonly brotli: boolean;
  /** 'valid' or the error code of vectors.json. */
  readonly expect: string;
}

/** The provisioning sector's X25519 secret replaced by the vectors' device key (docs/BOOT.md §Secure element). */
function withBoxSecret(device: SimulatedDevice, secret: Uint8Array): void {
  const at = device.layout.secureElement.offset;
  const memory = device.flash.memory;
  memory.set(secret, at + 38);
  new DataView(memory.buffer, memory.byteOffset).setUint32(
    at + 102,
    crc32(memory.subarray(at + 2, at + 102)),
    true,
  );
}

/** Each vector image staged (with its envelope) on a device that pins the vector's root and holds its key. */
export async function vectorDevices(): Promise<VectorDevice[]> {
  const document = JSON.parse(await readFile(join(here, 'vectors.json'), 'utf8')) as VectorDocument;
  const out: VectorDevice[] = [];
  for (const c of document.cases) {
    const root = c.pinnedRoot ?? document.root;
    const device = await SimulatedDevice.create({
      model: c.device?.model ?? 'movehub',
      root: { version: root.version, threshold: root.threshold, keys: root.keys.map(fromHex) },
      firmware: OLD.subarray(0, 8192),
      version: '0.0.1',
      sectorSize: 4096,
      writeSize: 8,
      slotSize: 64 * 1024,
    });
    withBoxSecret(device, fromHex(document.device.x25519Secret));
    if (c.device) device.secureElement.advance(c.device.securityCounter, 0);
    const image = new Uint8Array(await readFile(join(here, c.file)));
    const envelope = c.envelope ? new Uint8Array(await readFile(join(here, c.envelope))) : undefined;
    if (image.length < 32) continue; // shorter than a header: nothing a pending record could name
    let brotli = false;
    try {
      const length = new DataView(image.buffer, image.byteOffset).getUint32(8, true);
      brotli = decodeManifest(image.subarray(32, 32 + length)).compression.algorithm === 'brotli';
    } catch {
      // a manifest that does not decode: both bootloaders refuse it
    }
    out.push({
      name: `${c.file}: ${c.expect}`,
      device: staged(device, image, envelope),
      brotli,
      expect: c.expect,
    });
  }
  return out;
}
