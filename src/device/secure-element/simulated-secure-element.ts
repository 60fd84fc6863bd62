// A secure element simulated in a flash region of its own: one sector holds what provisioning wrote
// (the key pairs, made here, and the pinned root keys), two more hold the counters as a record log.
// On a real part the region is inside the chip; here it is ordinary flash, which is why a simulated
// device's keys can be read off its flash file (docs/BOOT.md §Secure element).
import { crc32 } from 'node:zlib';
import {
  type BoxKeyPair,
  boxKeyPairFromSecret,
  generateBoxKeyPair,
  generateSigningKeyPair,
  type SigningKeyPair,
  seedOf,
  sign,
  signingKeyPairFromSeed,
  wipe,
} from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { ByteReader, ByteWriter } from '../../core/format/bytes.ts';
import { openEnvelope } from '../../core/format/envelope.ts';
import type { KeySet } from '../../core/format/signatures.ts';
import { SECURE_ELEMENT_SECTORS } from '../bootloader/layout.ts';
import type { Flash, Region } from '../flash/flash.ts';
import { RecordLog } from '../flash/record-log.ts';
import type { DeviceIdentity, SecureElement, TrustState } from './secure-element.ts';

const MAGIC = 0x5345_4c31; // stored little-endian: bytes 31 4C 45 53
const COUNTER_RECORD = 64;

function regions(flash: Flash, region: Region) {
  const { sectorSize } = flash.geometry;
  if (region.size !== SECURE_ELEMENT_SECTORS * sectorSize)
    throw new SihlError('INTERNAL', 'secure element needs three sectors');
  return {
    provisioning: region.offset,
    counters: new RecordLog(
      flash,
      { offset: region.offset + sectorSize, size: 2 * sectorSize },
      COUNTER_RECORD,
    ),
  };
}

export class SimulatedSecureElement implements SecureElement {
  readonly #signing: SigningKeyPair;
  readonly #box: BoxKeyPair;
  readonly #root: KeySet;
  readonly #counters: RecordLog;

  private constructor(signing: SigningKeyPair, box: BoxKeyPair, root: KeySet, counters: RecordLog) {
    this.#signing = signing;
    this.#box = box;
    this.#root = root;
    this.#counters = counters;
  }

  /** First start: makes both key pairs inside, pins the root keys, starts the counters at zero. */
  static provision(flash: Flash, region: Region, root: KeySet): SimulatedSecureElement {
    const { provisioning, counters } = regions(flash, region);
    const signing = generateSigningKeyPair();
    const box = generateBoxKeyPair();
    const body = new ByteWriter()
      .u32(MAGIC)
      .bytes(seedOf(signing))
      .bytes(box.secretKey)
      .u8(root.threshold)
      .u8(root.keys.length);
    for (const key of root.keys) body.bytes(key);
    const bytes = body.finish();
    const sealed = new ByteWriter().u16(bytes.length).bytes(bytes).u32(crc32(bytes)).finish();
    const { sectorSize, writeSize } = flash.geometry;
    if (sealed.length > sectorSize) throw new SihlError('USAGE', 'too many root keys for the secure element');
    const padded = new Uint8Array(Math.ceil(sealed.length / writeSize) * writeSize).fill(0xff);
    padded.set(sealed);
    flash.erase(provisioning);
    flash.write(provisioning, padded);
    wipe(bytes, padded, sealed);
    counters.format();
    // An explicit zero: an empty counter log later means damage, never "start again at zero".
    counters.append(new ByteWriter().u32(0).u32(0).finish());
    return new SimulatedSecureElement(signing, box, root, counters);
  }

  /** Every later start: reads what provisioning wrote. */
  static open(flash: Flash, region: Region): SimulatedSecureElement {
    const { provisioning, counters } = regions(flash, region);
    const length = new DataView(flash.read(provisioning, 2).buffer).getUint16(0, true);
    if (length + 6 > flash.geometry.sectorSize)
      throw new SihlError('INTERNAL', 'secure element storage is damaged');
    const bytes = flash.read(provisioning + 2, length + 4);
    const body = bytes.subarray(0, length);
    if (crc32(body) !== new DataView(bytes.buffer, bytes.byteOffset).getUint32(length, true)) {
      throw new SihlError('INTERNAL', 'secure element storage is damaged (checksum)');
    }
    const r = new ByteReader(body, 'INTERNAL', 'secure element storage');
    if (r.u32() !== MAGIC) r.fail('not provisioned');
    const signing = signingKeyPairFromSeed(r.bytes(32));
    const box = boxKeyPairFromSecret(r.bytes(32).slice());
    const threshold = r.u8();
    const count = r.u8();
    const keys = Array.from({ length: count }, () => r.bytes(32).slice());
    wipe(bytes);
    return new SimulatedSecureElement(signing, box, { keys, threshold }, counters);
  }

  identity(): DeviceIdentity {
    return { sign: this.#signing.publicKey.slice(), box: this.#box.publicKey.slice() };
  }

  sign(message: Uint8Array): Uint8Array {
    return sign(this.#signing.secretKey, message);
  }

  openEnvelope(envelope: Uint8Array, binding: Uint8Array): Uint8Array {
    return openEnvelope(envelope, this.#box, binding);
  }

  trust(): TrustState {
    const latest = this.#counters.latest();
    if (latest?.payload.length !== 8) {
      // Rolling the counters back to zero would let old images in again: refuse instead.
      throw new SihlError('SECURE_ELEMENT_DAMAGED', 'the secure element has lost its counters');
    }
    const r = new ByteReader(latest.payload, 'INTERNAL', 'counters');
    return {
      root: { keys: this.#root.keys.map((k) => k.slice()), threshold: this.#root.threshold },
      securityCounter: r.u32(),
      delegationVersion: r.u32(),
    };
  }

  advance(securityVersion: number, delegationVersion: number): void {
    const now = this.trust();
    const security = Math.max(now.securityCounter, securityVersion);
    const delegation = Math.max(now.delegationVersion, delegationVersion);
    if (security === now.securityCounter && delegation === now.delegationVersion) return;
    this.#counters.append(new ByteWriter().u32(security).u32(delegation).finish());
  }
}
