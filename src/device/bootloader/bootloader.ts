// The bootloader (docs/BOOT.md): the small trusted part of a device. At each boot it finishes whatever
// the boot state says is unfinished. A pending image is verified completely (signatures from the pinned
// root, model, counters, payload digest, and a full decode that writes nothing) before the executable
// slot is touched; then it is decrypted and decompressed into the executable slot, checked, counted,
// and the staging slot is erased. A power cut anywhere makes the next boot do the same again.
// Imports: src/core, the flash and secure-element ports, and its own files. Nothing else.

import { equalBytes, Sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { streamBinding } from '../../core/format/manifest.ts';
import { unpackPayload } from '../../core/image/unpack.ts';
import { digestRange, type VerifiedImage, verifyImage } from '../../core/image/verify.ts';
import type { Flash } from '../flash/flash.ts';
import type { SecureElement } from '../secure-element/secure-element.ts';
import { type BootState, BootStateStore, idle, type Running } from './boot-state.ts';
import { eraseRange, flashSource, Meter, SectorWriter } from './flash-io.ts';
import type { Layout } from './layout.ts';

export interface Device {
  readonly flash: Flash;
  readonly layout: Layout;
  readonly secureElement: SecureElement;
  readonly model: string;
}

export interface BootReport {
  /** booted: the application starts; rejected: it starts, and something was refused on the way. */
  readonly outcome: 'booted' | 'rejected';
  readonly running: Running;
  /** A new image was installed during this boot. */
  readonly installed: boolean;
  /** Installs begun for that image, this one included (above 1: power was lost during one). */
  readonly attempts: number;
  /** The refusal's code, when outcome is rejected. */
  readonly reason?: string;
  /** The executable slot matches the digest the boot state records for it. */
  readonly intact: boolean;
  /** The largest buffer the bootloader used, in bytes. */
  readonly highWater: number;
}

/** The largest secretstream chunk the bootloader accepts (sihl packs 16 KiB chunks by default). */
export const BOOT_CHUNK_MAX = 64 * 1024;

/** The sink of the dry run: decoded, checked, dropped. */
const discard = { write: async () => {} };

export async function boot(device: Device): Promise<BootReport> {
  const { flash, layout } = device;
  const store = new BootStateStore(flash, layout.bootState);
  const meter = new Meter();
  const state = store.read();
  if (!state) {
    // BOOT.md §Damaged boot state: nothing staged can be trusted; the executable slot is left alone.
    eraseRange(flash, layout.staging, 0, layout.staging.size);
    const running: Running = { size: 0, digest: new Uint8Array(32), version: 'unknown' };
    store.write(idle(running, 'BOOT_STATE_CORRUPT'));
    return report(device, 'rejected', running, meter, { reason: 'BOOT_STATE_CORRUPT' });
  }
  switch (state.phase) {
    case 'pending':
    case 'installing':
      return install(device, store, state, meter);
    case 'installed':
    case 'rejected':
      // Power was lost while staging was being erased: finish that.
      eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
      store.write(idle(state.running, state.reason));
      return report(device, state.reason ? 'rejected' : 'booted', state.running, meter, {
        installed: state.phase === 'installed',
        ...(state.reason ? { reason: state.reason } : {}),
      });
    case 'idle':
      return report(device, 'booted', state.running, meter, {});
  }
}

async function install(
  device: Device,
  store: BootStateStore,
  state: BootState,
  meter: Meter,
): Promise<BootReport> {
  const { flash, layout, secureElement } = device;
  const reject = (code: string): BootReport => {
    // BOOT.md §Rejection: the executable slot is not touched; the reason is recorded; staging is erased.
    // (Only if an earlier install had begun is the slot no longer what ran before; then say so.)
    const running: Running =
      state.phase === 'installing'
        ? { size: 0, digest: new Uint8Array(32), version: 'unknown' }
        : state.running;
    store.write({ ...state, running, phase: 'rejected', reason: code });
    eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
    store.write(idle(running, code));
    return report(device, 'rejected', running, meter, { reason: code, attempts: state.attempts });
  };
  if (state.stagedImage === 0 || state.stagedImage + state.stagedEnvelope > layout.staging.size) {
    return reject('STAGING_INVALID');
  }
  const source = flashSource(flash, layout.staging, state.stagedImage, meter);
  const readBytes = flash.geometry.sectorSize;
  let image: VerifiedImage;
  let contentKey: Uint8Array | null = null;
  try {
    const trust = secureElement.trust();
    image = await verifyImage(
      source,
      { root: trust.root, rootVersion: trust.rootVersion, minDelegationVersion: trust.delegationVersion },
      { model: device.model, minSecurityVersion: trust.securityCounter, readBytes },
    );
    if (image.manifest.plaintextSize > layout.executable.size) {
      throw new SihlError('LIMIT_EXCEEDED', 'firmware is larger than the executable slot');
    }
    // BOOT.md §Working memory: the chunk buffers are what the bootloader can afford, whatever was signed.
    if (image.manifest.chunkSize > BOOT_CHUNK_MAX) {
      throw new SihlError(
        'LIMIT_EXCEEDED',
        `chunk size ${image.manifest.chunkSize} is above the bootloader's ${BOOT_CHUNK_MAX}`,
      );
    }
    if (image.manifest.encryption.algorithm !== 'none') {
      if (state.stagedEnvelope !== ENVELOPE_BYTES) {
        throw state.stagedEnvelope === 0
          ? new SihlError('ENVELOPE_REQUIRED', 'no key envelope was staged')
          : new SihlError('ENVELOPE_MALFORMED', `a staged envelope of ${state.stagedEnvelope} bytes`);
      }
      meter.note(ENVELOPE_BYTES);
      const envelope = flash.read(layout.staging.offset + state.stagedImage, ENVELOPE_BYTES);
      contentKey = secureElement.openEnvelope(envelope, streamBinding(image.manifestBytes));
    }
    // A full decode that writes nothing: an image that passes this will install.
    await unpackPayload(source, image, contentKey, discard, { readBytes });
  } catch (error) {
    if (error instanceof SihlError && error.family === 'verification') return reject(error.code);
    throw error;
  }

  // From here on the old firmware is overwritten; a power cut makes the next boot start again above.
  const attempts = state.attempts + 1;
  store.write({ ...state, phase: 'installing', attempts, reason: '' });
  const writer = new SectorWriter(flash, layout.executable, meter);
  await unpackPayload(source, image, contentKey, writer, { readBytes });
  writer.finish();
  contentKey?.fill(0);
  const { manifest } = image;
  // The old firmware's tail; when its size is unknown (damaged boot state), the whole rest of the slot.
  const oldEnd = state.running.size === 0 ? layout.executable.size : state.running.size;
  eraseRange(flash, layout.executable, manifest.plaintextSize, Math.max(oldEnd, manifest.plaintextSize));
  const written = await digestRange(
    flashSource(flash, layout.executable, manifest.plaintextSize, meter),
    0,
    manifest.plaintextSize,
    readBytes,
  );
  if (!equalBytes(written, manifest.plaintextDigest)) {
    // Flash that does not hold what was written: leave the state at installing, so the next boot retries.
    throw new SihlError('INTERNAL', 'the executable slot does not read back as written');
  }
  // A newer root that the image's chain led to is pinned with the counters (FORMAT.md §Root chain).
  secureElement.advance(manifest.securityVersion, image.delegation.delegation.version, image.root);
  const running: Running = {
    size: manifest.plaintextSize,
    digest: manifest.plaintextDigest,
    version: manifest.version,
  };
  store.write({ ...state, phase: 'installed', running, attempts, reason: '' });
  eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
  store.write(idle(running));
  return report(device, 'booted', running, meter, { installed: true, attempts });
}

function report(
  device: Device,
  outcome: BootReport['outcome'],
  running: Running,
  meter: Meter,
  extra: { installed?: boolean; attempts?: number; reason?: string },
): BootReport {
  const { flash, layout } = device;
  let intact = false;
  if (running.size > 0 && running.size <= layout.executable.size) {
    const hash = new Sha256();
    const step = flash.geometry.sectorSize;
    for (let at = 0; at < running.size; at += step) {
      hash.update(flash.read(layout.executable.offset + at, Math.min(step, running.size - at)));
    }
    intact = equalBytes(hash.digest(), running.digest);
  }
  return {
    outcome,
    running,
    installed: extra.installed ?? false,
    attempts: extra.attempts ?? 0,
    ...(extra.reason ? { reason: extra.reason } : {}),
    intact,
    highWater: meter.highWater,
  };
}
