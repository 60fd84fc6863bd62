// Installing a staged image (docs/BOOT.md §Install): check what can be checked without the payload,
// back the running firmware up, then stream the payload (every chunk authenticated by the chain in the
// read that fetched it, decrypted, decompressed) into the executable slot, and start it on trial.
// Staging is read once; nothing read from it reaches the slot unauthenticated.
import { equalBytes, sha256 } from '../../core/crypto/hash.ts';
import { SihlError } from '../../core/errors.ts';
import { ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { streamBinding } from '../../core/format/manifest.ts';
import { checkVersionRises } from '../../core/format/semver.ts';
import type { ByteSource } from '../../core/image/source.ts';
import { unpackPayload } from '../../core/image/unpack.ts';
import { type VerifiedImage, verifyImage } from '../../core/image/verify.ts';
import { type Boot, type BootReport, report } from './boot-report.ts';
import { type BootState, idle, type Running } from './boot-state.ts';
import { copySlot, digestOf, eraseRange, flashSource, SectorWriter } from './flash-io.ts';
import { revert } from './revert.ts';

/** The largest secretstream chunk the bootloader accepts (sihl packs 16 KiB chunks by default). */
export const BOOT_CHUNK_MAX = 64 * 1024;

interface Prepared {
  readonly image: VerifiedImage;
  readonly source: ByteSource;
  readonly contentKey: Uint8Array | null;
  readonly rootVersion: number;
}

/** BOOT.md §Install steps 1–6: everything that needs no payload byte. Writes nothing. */
async function prepare(ctx: Boot, state: BootState): Promise<Prepared> {
  const { flash, layout, secureElement, model } = ctx.device;
  if (state.stagedImage === 0 || state.stagedImage + state.stagedEnvelope > layout.staging.size) {
    throw new SihlError('STAGING_INVALID', 'nothing valid is staged');
  }
  const source = flashSource(flash, layout.staging, state.stagedImage, ctx.meter);
  const trust = secureElement.trust();
  const image = await verifyImage(
    source,
    { root: trust.root, rootVersion: trust.rootVersion, minDelegationVersion: trust.delegationVersion },
    { model, minSecurityVersion: trust.securityCounter, payload: false },
  );
  // BOOT.md §Boot state: the image the agent verified and marked pending, and no other.
  if (!equalBytes(sha256(image.manifestBytes), state.stagedManifest)) {
    throw new SihlError('STAGING_MISMATCH', 'staging holds another image than the one marked pending');
  }
  checkVersionRises(image.manifest, state.running.version);
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
  let contentKey: Uint8Array | null = null;
  if (image.manifest.encryption.algorithm !== 'none') {
    if (state.stagedEnvelope !== ENVELOPE_BYTES) {
      throw state.stagedEnvelope === 0
        ? new SihlError('ENVELOPE_REQUIRED', 'no key envelope was staged')
        : new SihlError('ENVELOPE_MALFORMED', `a staged envelope of ${state.stagedEnvelope} bytes`);
    }
    ctx.meter.note(ENVELOPE_BYTES);
    const envelope = flash.read(layout.staging.offset + state.stagedImage, ENVELOPE_BYTES);
    contentKey = secureElement.openEnvelope(envelope, streamBinding(image.manifestBytes));
  }
  return { image, source, contentKey, rootVersion: trust.rootVersion };
}

const refused = (error: unknown): error is SihlError =>
  error instanceof SihlError && error.family === 'verification';

export async function install(ctx: Boot, state: BootState): Promise<BootReport> {
  const { flash, layout } = ctx.device;
  let prepared: Prepared;
  try {
    prepared = await prepare(ctx, state);
  } catch (error) {
    if (!refused(error)) throw error;
    // Before the slot is written, a refusal leaves it alone; after, the backup goes back.
    return state.phase === 'writing' ? revert(ctx, state, error.code) : reject(ctx, state, error.code);
  }
  const { image, source, contentKey } = prepared;
  let current: BootState = { ...state, attempts: state.attempts + 1, reason: '' };
  if (state.phase === 'pending') current = { ...current, phase: 'backup', previous: state.running };
  store(ctx, current);
  if (current.phase === 'backup') {
    // BOOT.md §Install step 8: the running firmware goes to the backup slot, proven before it counts.
    const { previous } = current;
    const copied = copySlot(flash, layout.executable, layout.backup, previous.size, ctx.meter);
    // A slot that is not what the boot state says it runs cannot be backed up: leave it alone.
    if (previous.size > 0 && !equalBytes(copied, previous.digest))
      return reject(ctx, current, 'SLOT_NOT_INTACT');
    if (
      previous.size > 0 &&
      !equalBytes(digestOf(flash, layout.backup, previous.size, ctx.meter), previous.digest)
    ) {
      throw new SihlError('INTERNAL', 'the backup slot does not read back as written');
    }
    current = { ...current, phase: 'writing' };
    store(ctx, current);
  }
  // Step 10: one streaming pass; a chunk that fails authentication stops it before it is written.
  const writer = new SectorWriter(flash, layout.executable, ctx.meter);
  try {
    await unpackPayload(source, image, contentKey, writer, { readBytes: flash.geometry.sectorSize });
    writer.finish();
  } catch (error) {
    if (!refused(error)) throw error;
    return revert(ctx, current, error.code);
  } finally {
    contentKey?.fill(0);
  }
  const { manifest } = image;
  // The old firmware's tail; when its size is unknown (damaged boot state), the whole rest of the slot.
  const oldEnd = current.previous.size === 0 ? layout.executable.size : current.previous.size;
  eraseRange(flash, layout.executable, manifest.plaintextSize, Math.max(oldEnd, manifest.plaintextSize));
  // Step 12, the proof: the writer read every sector back as written (else it stopped, the state left
  // at writing), and unpacking checked the SHA-256 of what it was given against the signed digest; no
  // operation since touched those sectors. Hashing the slot again would find the same digest.
  if (writer.written !== manifest.plaintextSize) {
    throw new SihlError('INTERNAL', `the slot was given ${writer.written} bytes, not the signed size`);
  }
  const running: Running = {
    size: manifest.plaintextSize,
    digest: manifest.plaintextDigest,
    version: manifest.version,
  };
  const installed: BootState = {
    ...current,
    phase: 'installed',
    running,
    advance: {
      securityVersion: manifest.securityVersion,
      delegationVersion: image.delegation.delegation.version,
      root: image.root.version > prepared.rootVersion ? image.root : null,
    },
  };
  store(ctx, installed);
  return startTrial(ctx, installed, true);
}

function store(ctx: Boot, state: BootState): void {
  ctx.store.write(state);
}

/** BOOT.md §Install step 14: staging is erased, and the new firmware starts on trial. */
export function startTrial(ctx: Boot, state: BootState, proven = false): BootReport {
  const { flash, layout } = ctx.device;
  eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
  store(ctx, { ...state, phase: 'trial' });
  return report(ctx, 'booted', state.running, {
    installed: true,
    trial: true,
    attempts: state.attempts,
    proven,
  });
}

/** BOOT.md §Rejection: the slot was not touched; the reason is recorded and staging erased. */
function reject(ctx: Boot, state: BootState, code: string): BootReport {
  const { flash, layout } = ctx.device;
  store(ctx, { ...state, phase: 'rejected', reason: code });
  eraseRange(flash, layout.staging, 0, state.stagedImage + state.stagedEnvelope);
  store(ctx, idle(state.running, code));
  return report(ctx, 'rejected', state.running, { reason: code, attempts: state.attempts });
}
