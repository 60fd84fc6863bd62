import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../../core/format/bytes.ts';
import type { Flash, Region } from '../flash/flash.ts';
import { RecordLog } from '../flash/record-log.ts';

export type Phase = 'idle' | 'pending' | 'installing' | 'installed' | 'rejected';
const PHASES: readonly Phase[] = ['idle', 'pending', 'installing', 'installed', 'rejected'];

export interface Running {
  readonly size: number;
  readonly digest: Uint8Array;
  readonly version: string;
}

export interface BootState {
  readonly phase: Phase;
  readonly running: Running;
  readonly stagedImage: number;
  readonly stagedEnvelope: number;
  /** Installs begun for the staged image (more than one means power was lost during one). */
  readonly attempts: number;
  /** Why the last staged image was refused, or '' when it was not. */
  readonly reason: string;
}

const RECORD_SIZE = 256;
const TEXT_MAX = 64;

function text(w: ByteWriter, value: string): void {
  const bytes = utf8.encode(value).subarray(0, TEXT_MAX);
  w.u8(bytes.length).bytes(bytes);
}

export function encodeBootState(s: BootState): Uint8Array {
  const w = new ByteWriter()
    .u8(PHASES.indexOf(s.phase))
    .u8(Math.min(s.attempts, 255))
    .u32(s.running.size)
    .bytes(s.running.digest)
    .u32(s.stagedImage)
    .u32(s.stagedEnvelope);
  text(w, s.running.version);
  text(w, s.reason);
  return w.finish();
}

export function decodeBootState(payload: Uint8Array): BootState {
  const r = new ByteReader(payload, 'INTERNAL', 'boot state');
  const phase = PHASES[r.u8()] ?? r.fail('unknown phase');
  const attempts = r.u8();
  const size = r.u32();
  const digest = r.bytes(32).slice();
  const stagedImage = r.u32();
  const stagedEnvelope = r.u32();
  const read = () => {
    const length = r.u8();
    if (length > TEXT_MAX) r.fail('text too long');
    const bytes = r.bytes(length);
    try {
      return fromUtf8.decode(bytes);
    } catch {
      return r.fail('text is not UTF-8'); // a TypeError otherwise
    }
  };
  const version = read();
  const reason = read();
  r.end();
  return { phase, attempts, running: { size, digest, version }, stagedImage, stagedEnvelope, reason };
}

export class BootStateStore {
  readonly #log: RecordLog;

  constructor(flash: Flash, region: Region) {
    this.#log = new RecordLog(flash, region, RECORD_SIZE);
  }

  /** The state, or null when the area holds no valid record (new, erased or overwritten with garbage). */
  read(): BootState | null {
    const latest = this.#log.latest();
    if (!latest) return null;
    try {
      return decodeBootState(latest.payload);
    } catch {
      return null; // a record with a valid checksum but a payload this code cannot read
    }
  }

  write(state: BootState): void {
    this.#log.append(encodeBootState(state));
  }

  /** Starts the area afresh (factory): erases it and writes one record. */
  reset(state: BootState): void {
    this.#log.format();
    this.write(state);
  }
}

export function idle(running: Running, reason = ''): BootState {
  return { phase: 'idle', running, stagedImage: 0, stagedEnvelope: 0, attempts: 0, reason };
}
