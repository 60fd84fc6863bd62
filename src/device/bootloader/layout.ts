// Where things live in a device's flash (docs/BOOT.md §Layout): the boot-state log, the secure
// element's storage, the executable slot, the backup slot and the staging slot, each in whole sectors.
import { STREAM_CHUNK_OVERHEAD } from '../../core/crypto/stream.ts';
import { SihlError } from '../../core/errors.ts';
import { ENVELOPE_BYTES } from '../../core/format/envelope.ts';
import { HEADER_BYTES } from '../../core/format/header.ts';
import { LINK_BYTES } from '../../core/format/payload-chain.ts';
import { LIMITS } from '../../core/limits.ts';
import type { FlashGeometry, Region } from '../flash/flash.ts';

export interface Layout {
  readonly bootState: Region;
  readonly secureElement: Region;
  /** The firmware that runs. */
  readonly executable: Region;
  /** The firmware that ran before an install, until the new one is confirmed (as large as the slot). */
  readonly backup: Region;
  /** Where the agent puts a downloaded image and its key envelope. */
  readonly staging: Region;
}

export const BOOT_STATE_SECTORS = 2;

/**
 * The largest image (with its envelope) that firmware of `slotSize` bytes can pack into, so even
 * incompressible firmware fits: 17 + 32 bytes (tag and chain link) per smallest chunk, Brotli's framing of stored blocks, and
 * every other part at its limit.
 */
export function stagingBytes(slotSize: number): number {
  return (
    slotSize +
    Math.ceil(slotSize / LIMITS.chunkBytesMin) * (STREAM_CHUNK_OVERHEAD + LINK_BYTES) +
    Math.ceil(slotSize / 65536) * 8 +
    HEADER_BYTES +
    LIMITS.manifestBytes +
    LIMITS.delegationBytes +
    LIMITS.signatureBlockBytes +
    LIMITS.rootChainBytes +
    ENVELOPE_BYTES
  );
}
/** Provisioning, the counter log (two sectors) and the pinned-root log (two sectors). */
export const SECURE_ELEMENT_SECTORS = 5;

/** Lays out a flash for firmware up to `slotSize` bytes; staging holds the largest image of it. */
export function planLayout(sectorSize: number, slotSize: number): { layout: Layout; size: number } {
  // Sizes in the boot state are 32-bit.
  if (!Number.isInteger(slotSize) || slotSize <= 0 || stagingBytes(slotSize) > 0xffffffff) {
    throw new SihlError('USAGE', `slot size ${slotSize} is not possible (at most about 4 GiB)`);
  }
  const sectors = (bytes: number) => Math.ceil(bytes / sectorSize) * sectorSize;
  let offset = 0;
  const take = (size: number): Region => {
    const region = { offset, size };
    offset += size;
    return region;
  };
  const layout = {
    bootState: take(BOOT_STATE_SECTORS * sectorSize),
    secureElement: take(SECURE_ELEMENT_SECTORS * sectorSize),
    executable: take(sectors(slotSize)),
    backup: take(sectors(slotSize)),
    staging: take(sectors(stagingBytes(slotSize))),
  };
  return { layout, size: offset };
}

export function checkLayout(layout: Layout, geometry: FlashGeometry): void {
  const regions = [layout.bootState, layout.secureElement, layout.executable, layout.backup, layout.staging];
  const aligned = regions.every(
    (r) =>
      r.offset % geometry.sectorSize === 0 &&
      r.size % geometry.sectorSize === 0 &&
      r.offset + r.size <= geometry.size,
  );
  if (!aligned) throw new SihlError('INTERNAL', 'flash layout does not fit the geometry');
}
