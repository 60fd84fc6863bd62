// A secure element simulated in a flash region of its own: one sector holds what provisioning wrote
// (the key pairs and the boot-state record key, made here), two more hold the counters as a record log, and two more the pinned root
// (keys, threshold, version) as a record log of one record per sector, so a newer root replaces it
// with one write into the other sector and a power cut keeps the old one.
// On a real part the region is inside the chip; here it is ordinary flash, which is why a simulated
// device's keys can be read off its flash file (docs/BOOT.md §Secure element).
import { crc32 } from 'node:zlib';
import {
  authTag,
  authVerify,
  type BoxKeyPair,
  boxKeyPairFromSecret,
  generateAuthKey,
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
import { openCredential } from '../../core/format/credential.ts';
import { openEnvelope } from '../../core/format/envelope.ts';
import type { VersionedRoot } from '../../core/format/root-chain.ts';
import type { KeySet } from '../../core/format/signatures.ts';
import { SECURE_ELEMENT_SECTORS } from '../bootloader/layout.ts';
import type { Flash, Region } from '../flash/flash.ts';
import { RecordLog } from '../flash/record-log.ts';
import type { DeviceIdentity, SecureElement, TrustState } from './secure-element.ts';

const MAGIC = 0x5345_4c31; // stored little-endian: bytes 31 4C 45 53
const COUNTER_RECORD = 64;
/** A record log's header and checksum (record-log.ts). */
const RECORD_OVERHEAD = 12;

function regions(flash: Flash, region: Region) {
  const { sectorSize } = flash.geometry;
  if (region.size !== SECURE_ELEMENT_SECTORS * sectorSize)
    throw new SihlError('INTERNAL', `secure element needs ${SECURE_ELEMENT_SECTORS} sectors`);
  return {
    provisioning: region.offset,
    counters: new RecordLog(
      flash,
      { offset: region.offset + sectorSize, size: 2 * sectorSize },
      COUNTER_RECORD,
    ),
    roots: new RecordLog(flash, { offset: region.offset + 3 * sectorSize, size: 2 * sectorSize }, sectorSize),
  };
}

function encodeRoot(root: VersionedRoot, sectorSize: number): Uint8Array {
  const w = new ByteWriter().u32(root.version).u8(root.threshold).u8(root.keys.length);
  for (const key of root.keys) w.bytes(key);
  const bytes = w.finish();
  if (bytes.length + RECORD_OVERHEAD > sectorSize)
    throw new SihlError('USAGE', `${root.keys.length} root keys do not fit the secure element`);
  return bytes;
}

function decodeRoot(payload: Uint8Array): VersionedRoot {
  const r = new ByteReader(payload, 'INTERNAL', 'pinned root');
  const version = r.u32();
  const threshold = r.u8();
  const count = r.u8();
  const keys = Array.from({ length: count }, () => r.bytes(32).slice());
  r.end();
  return { version, threshold, keys };
}

export class SimulatedSecureElement implements SecureElement {
  readonly #signing: SigningKeyPair;
  readonly #box: BoxKeyPair;
  readonly #recordKey: Uint8Array;
  readonly #counters: RecordLog;
  readonly #roots: RecordLog;
  readonly #sectorSize: number;

  private constructor(
    signing: SigningKeyPair,
    box: BoxKeyPair,
    recordKey: Uint8Array,
    logs: { counters: RecordLog; roots: RecordLog },
    sectorSize: number,
  ) {
    this.#signing = signing;
    this.#box = box;
    this.#recordKey = recordKey;
    this.#counters = logs.counters;
    this.#roots = logs.roots;
    this.#sectorSize = sectorSize;
  }

  /**
   * First start: makes both key pairs inside, pins the root keys (of `root.version`, 1 by default),
   * starts the counters at zero.
   */
  static provision(
    flash: Flash,
    region: Region,
    root: KeySet & { readonly version?: number },
  ): SimulatedSecureElement {
    const { provisioning, counters, roots } = regions(flash, region);
    const { sectorSize } = flash.geometry;
    const pinned = encodeRoot({ ...root, version: root.version ?? 1 }, sectorSize);
    const signing = generateSigningKeyPair();
    const box = generateBoxKeyPair();
    const recordKey = generateAuthKey();
    const bytes = new ByteWriter()
      .u32(MAGIC)
      .bytes(seedOf(signing))
      .bytes(box.secretKey)
      .bytes(recordKey)
      .finish();
    const sealed = new ByteWriter().u16(bytes.length).bytes(bytes).u32(crc32(bytes)).finish();
    const { writeSize } = flash.geometry;
    const padded = new Uint8Array(Math.ceil(sealed.length / writeSize) * writeSize).fill(0xff);
    padded.set(sealed);
    flash.erase(provisioning);
    flash.write(provisioning, padded);
    wipe(bytes, padded, sealed);
    counters.format();
    // An explicit zero: an empty counter log later means damage, never "start again at zero".
    counters.append(new ByteWriter().u32(0).u32(0).finish());
    roots.format();
    roots.append(pinned);
    return new SimulatedSecureElement(signing, box, recordKey, { counters, roots }, sectorSize);
  }

  /** Every later start: reads what provisioning wrote. */
  static open(flash: Flash, region: Region): SimulatedSecureElement {
    const { provisioning, counters, roots } = regions(flash, region);
    const head = flash.read(provisioning, 2);
    const length = new DataView(head.buffer, head.byteOffset).getUint16(0, true);
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
    const recordKey = r.bytes(32).slice();
    r.end();
    wipe(bytes);
    return new SimulatedSecureElement(
      signing,
      box,
      recordKey,
      { counters, roots },
      flash.geometry.sectorSize,
    );
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

  openCredential(box: Uint8Array): string | null {
    return openCredential(box, this.#box);
  }

  tagRecord(message: Uint8Array): Uint8Array {
    return authTag(this.#recordKey, message);
  }

  checkRecord(message: Uint8Array, tag: Uint8Array): boolean {
    return authVerify(this.#recordKey, message, tag);
  }

  trust(): TrustState {
    const latest = this.#counters.latest();
    if (latest?.payload.length !== 8) {
      // Rolling the counters back to zero would let old images in again: refuse instead.
      throw new SihlError('SECURE_ELEMENT_DAMAGED', 'the secure element has lost its counters');
    }
    const pinned = this.#roots.latest();
    if (!pinned) throw new SihlError('SECURE_ELEMENT_DAMAGED', 'the secure element has lost its pinned root');
    const root = decodeRoot(pinned.payload);
    const r = new ByteReader(latest.payload, 'INTERNAL', 'counters');
    return {
      root: { keys: root.keys, threshold: root.threshold },
      rootVersion: root.version,
      securityCounter: r.u32(),
      delegationVersion: r.u32(),
    };
  }

  advance(securityVersion: number, delegationVersion: number, root?: VersionedRoot): void {
    let now = this.trust();
    if (root && root.version > now.rootVersion) {
      this.#roots.append(encodeRoot(root, this.#sectorSize));
      now = this.trust();
    }
    const security = Math.max(now.securityCounter, securityVersion);
    const delegation = Math.max(now.delegationVersion, delegationVersion);
    if (security === now.securityCounter && delegation === now.delegationVersion) return;
    this.#counters.append(new ByteWriter().u32(security).u32(delegation).finish());
  }
}
