// Where things live in a device's flash (docs/BOOT.md §Layout): the boot-state log, the secure
// element's storage, the executable slot and the staging slot, each in whole sectors.
import { SihlError } from '../../core/errors.ts';
import type { FlashGeometry, Region } from '../flash/flash.ts';

export interface Layout {
  readonly bootState: Region;
  readonly secureElement: Region;
  /** The firmware that runs. */
  readonly executable: Region;
  /** Where the agent puts a downloaded image and its key envelope. */
  readonly staging: Region;
}

export const BOOT_STATE_SECTORS = 2;
export const SECURE_ELEMENT_SECTORS = 3;

/** Lays out a flash for firmware up to `slotSize` bytes; staging is one sector larger (the envelope). */
export function planLayout(sectorSize: number, slotSize: number): { layout: Layout; size: number } {
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
    staging: take(sectors(slotSize) + sectorSize),
  };
  return { layout, size: offset };
}

export function checkLayout(layout: Layout, geometry: FlashGeometry): void {
  const regions = [layout.bootState, layout.secureElement, layout.executable, layout.staging];
  const aligned = regions.every(
    (r) =>
      r.offset % geometry.sectorSize === 0 &&
      r.size % geometry.sectorSize === 0 &&
      r.offset + r.size <= geometry.size,
  );
  if (!aligned) throw new SihlError('INTERNAL', 'flash layout does not fit the geometry');
}
