// Who a publication is for, and where each one's slot is (docs/FORMAT.md §Envelope tables): every
// unrevoked device of the model in the rollout, under a recipient id salted for this publication and
// placed in a hash table padded to a power of two; and the salted ids of the model's revoked devices,
// which the signed target entry lists so that an honest agent refuses the release (docs/THREATS.md).
import { BOX_PUBLIC_KEY_BYTES, checkBoxPublicKey } from '../core/crypto/box.ts';
import { randomBytes } from '../core/crypto/sodium.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { checkModel } from '../core/format/manifest.ts';
import {
  MAX_TABLE_SLOTS,
  placeRecipients,
  RECIPIENT_BYTES,
  recipientIdFor,
  SALT_BYTES,
  tableSlots,
} from '../core/format/slot-table.ts';
import { REVOKED_ID_HEX } from '../core/format/target.ts';
import { READ_BATCH } from './envelopes.ts';
import type { Registry } from './registry.ts';

/** The revoked list is padded with random ids to a power of two, at least this long. */
const MIN_REVOKED = 8;

export interface RecipientPlan {
  readonly salt: Uint8Array;
  /** Slots in the tables (a power of two), 0 when the publication has none. */
  readonly slots: number;
  /** Per slot, the index of its recipient in `keys` and `ids`, or -1 for filler. */
  readonly owner: Int32Array;
  /** The recipients' X25519 public keys, end to end. */
  readonly keys: Uint8Array;
  /** The recipients' salted ids, end to end. */
  readonly ids: Uint8Array;
  /** How many recipients the tables hold. */
  readonly recipients: number;
  /** The recipients' device ids, in the same order, when asked for (their log credentials); else empty. */
  readonly deviceIds: string[];
  /** Devices registered when the plan was made (every model, revoked ones too). */
  readonly registered: number;
  /** The model's revoked devices, as salted ids of REVOKED_ID_HEX digits, padded with random ones. */
  readonly revoked: string[];
}

export interface PlanOptions {
  readonly registry: Pick<Registry, 'count' | 'eligible' | 'revokedOf'>;
  readonly model: string;
  /** Which eligible devices are in the rollout; all when absent. */
  readonly rollout?: (id: string) => boolean;
  /** Keep each recipient's device id (for log credentials): about 100 bytes a device. */
  readonly deviceIds?: boolean;
  /** False when the publication has no tables (signed-only, no log credentials): only the revoked list. */
  readonly tables?: boolean;
  /** For tests: a fixed salt. */
  readonly salt?: Uint8Array;
}

/** Reads the registry once and places every recipient. */
export function planRecipients(options: PlanOptions): RecipientPlan {
  const model = checkModel(options.model);
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const registered = options.registry.count();
  const revoked = revokedIds(options.registry.revokedOf(model), salt);
  if (options.tables === false) {
    const none = new Uint8Array(0);
    return {
      salt,
      slots: 0,
      owner: new Int32Array(0),
      keys: none,
      ids: none,
      recipients: 0,
      deviceIds: [],
      registered,
      revoked,
    };
  }
  // Packed as they are read (at most one per registered device), so rows die young (envelopes.ts READ_BATCH).
  const keys = new Uint8Array(registered * BOX_PUBLIC_KEY_BYTES);
  const ids = new Uint8Array(registered * RECIPIENT_BYTES);
  const deviceIds: string[] = [];
  let n = 0;
  walk: for (const rows of options.registry.eligible(model, READ_BATCH)) {
    for (const device of rows) {
      if (device.idx >= registered) break walk; // registered while this runs: the next publication's
      if (options.rollout !== undefined && !options.rollout(device.id)) continue;
      checkBoxPublicKey(device.box, `X25519 public key of device ${device.id}`);
      keys.set(device.box, n * BOX_PUBLIC_KEY_BYTES);
      ids.set(recipientIdFor(salt, device.box), n * RECIPIENT_BYTES);
      if (options.deviceIds === true) deviceIds.push(device.id);
      n++;
    }
  }
  let slots = tableSlots(n);
  let owner = placeRecipients(ids.subarray(0, n * RECIPIENT_BYTES), slots);
  while (owner === undefined && slots < MAX_TABLE_SLOTS) {
    slots *= 2;
    owner = placeRecipients(ids.subarray(0, n * RECIPIENT_BYTES), slots);
  }
  if (owner === undefined) throw new SihlError('INTERNAL', 'no table size places every recipient');
  return {
    salt,
    slots,
    owner,
    keys: keys.subarray(0, n * BOX_PUBLIC_KEY_BYTES),
    ids: ids.subarray(0, n * RECIPIENT_BYTES),
    recipients: n,
    deviceIds,
    registered,
    revoked,
  };
}

/** The salted, shortened ids of `keys`, padded with random ids to a power of two, in sorted order. */
export function revokedIds(keys: Iterable<Uint8Array>, salt: Uint8Array): string[] {
  const ids = new Set<string>();
  for (const key of keys) ids.add(toHex(recipientIdFor(salt, key)).slice(0, REVOKED_ID_HEX));
  let length = MIN_REVOKED;
  while (length < ids.size) length *= 2;
  while (ids.size < length) ids.add(toHex(randomBytes(REVOKED_ID_HEX / 2)));
  return [...ids].sort();
}

/** The target entry's fields that describe a publication's tables and revocations (target.ts). */
export function recipientFields(plan: RecipientPlan): { salt: string; slots?: number; revoked: string[] } {
  return { salt: toHex(plan.salt), ...(plan.slots > 0 ? { slots: plan.slots } : {}), revoked: plan.revoked };
}
