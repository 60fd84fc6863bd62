// The boot state (docs/BOOT.md §Boot state): what the bootloader must finish, kept as the newest record
// of a record log. Every record carries a tag made by the secure element over its sequence number and
// payload, so a record written by anything but this device's own software reads as garbage.
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../../core/format/bytes.ts';
import type { VersionedRoot } from '../../core/format/root-chain.ts';
import type { Flash, Region } from '../flash/flash.ts';
import { RecordLog } from '../flash/record-log.ts';
import type { SecureElement } from '../secure-element/secure-element.ts';

export type Phase =
  | 'idle'
  | 'pending'
  | 'backup'
  | 'writing'
  | 'installed'
  | 'trial'
  | 'confirmed'
  | 'reverting'
  | 'rejected';
const PHASES: readonly Phase[] = [
  'idle',
  'pending',
  'backup',
  'writing',
  'installed',
  'trial',
  'confirmed',
  'reverting',
  'rejected',
];

/** A firmware in a slot: its size, SHA-256 and version. Size 0 means unknown. */
export interface Running {
  readonly size: number;
  readonly digest: Uint8Array;
  readonly version: string;
}

/** What a confirmation raises in the secure element: counters, and a newer root the image led to. */
export interface Advance {
  readonly securityVersion: number;
  readonly delegationVersion: number;
  readonly root: VersionedRoot | null;
}

export interface BootState {
  readonly phase: Phase;
  /** Installs begun for the staged image (more than one means power was lost during one). */
  readonly attempts: number;
  /** The firmware in the executable slot (the new one from `installed` on). */
  readonly running: Running;
  /** The firmware in the backup slot: what a revert restores. */
  readonly previous: Running;
  readonly stagedImage: number;
  readonly stagedEnvelope: number;
  /** SHA-256 of the manifest of the image the agent verified; the bootloader installs nothing else. */
  readonly stagedManifest: Uint8Array;
  /** Why the last staged image was refused or reverted, or '' when it was not. */
  readonly reason: string;
  readonly advance: Advance;
}

/** Bytes per boot-state record: room for a root of 16 keys to carry until confirmation. */
export const BOOT_RECORD_BYTES = 1024;
const TEXT_MAX = 64;
const TAG_BYTES = 32;
const CONTEXT = utf8.encode('sihl/v1/boot-state\0');
export const UNKNOWN: Running = { size: 0, digest: new Uint8Array(32), version: 'unknown' };
export const NO_ADVANCE: Advance = { securityVersion: 0, delegationVersion: 0, root: null };

function text(w: ByteWriter, value: string): void {
  const bytes = utf8.encode(value).subarray(0, TEXT_MAX);
  w.u8(bytes.length).bytes(bytes);
}

function firmware(w: ByteWriter, f: Running): void {
  w.u32(f.size).bytes(f.digest);
  text(w, f.version);
}

export function encodeBootState(s: BootState): Uint8Array {
  const w = new ByteWriter().u8(PHASES.indexOf(s.phase)).u8(Math.min(s.attempts, 255));
  firmware(w, s.running);
  firmware(w, s.previous);
  w.u32(s.stagedImage).u32(s.stagedEnvelope).bytes(s.stagedManifest);
  text(w, s.reason);
  const { root } = s.advance;
  w.u32(s.advance.securityVersion).u32(s.advance.delegationVersion);
  w.u32(root?.version ?? 0)
    .u8(root?.threshold ?? 0)
    .u8(root?.keys.length ?? 0);
  for (const key of root?.keys ?? []) w.bytes(key);
  return w.finish();
}

export function decodeBootState(payload: Uint8Array): BootState {
  const r = new ByteReader(payload, 'INTERNAL', 'boot state');
  const phase = PHASES[r.u8()] ?? r.fail('unknown phase');
  const attempts = r.u8();
  const readText = () => {
    const length = r.u8();
    if (length > TEXT_MAX) r.fail('text too long');
    try {
      return fromUtf8.decode(r.bytes(length));
    } catch {
      return r.fail('text is not UTF-8'); // a TypeError otherwise
    }
  };
  const readFirmware = (): Running => {
    const size = r.u32();
    const digest = r.bytes(32).slice();
    return { size, digest, version: readText() };
  };
  const running = readFirmware();
  const previous = readFirmware();
  const stagedImage = r.u32();
  const stagedEnvelope = r.u32();
  const stagedManifest = r.bytes(32).slice();
  const reason = readText();
  const securityVersion = r.u32();
  const delegationVersion = r.u32();
  const rootVersion = r.u32();
  const threshold = r.u8();
  const count = r.u8();
  if (count > 16) r.fail('more than 16 root keys');
  if (count === 0 && (rootVersion !== 0 || threshold !== 0))
    r.fail('a root version or threshold without keys');
  const keys = Array.from({ length: count }, () => r.bytes(32).slice());
  r.end();
  const root = count === 0 ? null : { version: rootVersion, threshold, keys };
  return {
    phase,
    attempts,
    running,
    previous,
    stagedImage,
    stagedEnvelope,
    stagedManifest,
    reason,
    advance: { securityVersion, delegationVersion, root },
  };
}

/** What the secure element tags: a context, the record's sequence number and the boot state. */
export function tagged(sequence: number, body: Uint8Array): Uint8Array {
  return new ByteWriter().bytes(CONTEXT).u32(sequence).bytes(body).finish();
}

export class BootStateStore {
  readonly #log: RecordLog;
  readonly #element: SecureElement;

  constructor(flash: Flash, region: Region, element: SecureElement) {
    this.#element = element;
    // A record whose tag does not verify was not written by this device: it is garbage (BOOT.md §Boot state).
    this.#log = new RecordLog(flash, region, BOOT_RECORD_BYTES, ({ sequence, payload }) => {
      if (payload.length < TAG_BYTES) return false;
      const body = payload.subarray(0, payload.length - TAG_BYTES);
      return element.checkRecord(tagged(sequence, body), payload.subarray(payload.length - TAG_BYTES));
    });
  }

  /** The state, or null when the area holds no authentic record (new, erased or overwritten). */
  read(): BootState | null {
    const latest = this.#log.latest();
    if (!latest) return null;
    try {
      return decodeBootState(latest.payload.subarray(0, latest.payload.length - TAG_BYTES));
    } catch {
      return null; // an authentic record this code cannot read (written by other software)
    }
  }

  write(state: BootState): void {
    const body = encodeBootState(state);
    this.#log.append((sequence) => {
      const tag = this.#element.tagRecord(tagged(sequence, body));
      return new ByteWriter().bytes(body).bytes(tag).finish();
    });
  }

  /** Starts the area afresh (factory): erases it and writes one record. */
  reset(state: BootState): void {
    this.#log.format();
    this.write(state);
  }
}

/** Nothing staged, nothing to finish: `running` runs. */
export function idle(running: Running, reason = ''): BootState {
  return {
    phase: 'idle',
    attempts: 0,
    running,
    previous: UNKNOWN,
    stagedImage: 0,
    stagedEnvelope: 0,
    stagedManifest: new Uint8Array(32),
    reason,
    advance: NO_ADVANCE,
  };
}
