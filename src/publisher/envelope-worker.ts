// A sealing thread of publishEnvelopes (envelopes.ts). It is given the release's content key once, then
// batches of slots (device X25519 public keys and recipient ids), and answers each batch with its
// envelopes laid end to end: the content key sealed to each device, filler where a slot has no device.
// It runs in the publishing process itself (worker_threads), so the key never leaves that process.
import { parentPort } from 'node:worker_threads';
import { BOX_PUBLIC_KEY_BYTES, generateBoxKeyPair } from '../core/crypto/box.ts';
import { randomBytes, wipe } from '../core/crypto/sodium.ts';
import { STREAM_KEY_BYTES } from '../core/crypto/stream.ts';
import { ENVELOPE_BYTES, sealEnvelope } from '../core/format/envelope.ts';
import { RECIPIENT_BYTES, RECIPIENT_OFFSET } from '../core/format/slot-table.ts';

export type ToSealer =
  /** The key arrives as a transferred ArrayBuffer: moved, not copied, and wiped here at the end. */
  | { readonly type: 'key'; readonly contentKey: ArrayBuffer; readonly binding: Uint8Array }
  /**
   * `keys` is n X25519 public keys of 32 bytes each (all zeros: a filler slot), `ids` their n recipient
   * ids of 32 bytes (docs/FORMAT.md §Envelope tables).
   */
  | { readonly type: 'seal'; readonly seq: number; readonly keys: Uint8Array; readonly ids: Uint8Array }
  | { readonly type: 'end' };

export interface FromSealer {
  readonly seq: number;
  /** n envelopes of ENVELOPE_BYTES each, in the order of the keys. */
  readonly envelopes: Uint8Array;
}

const port = parentPort;
if (port === null) throw new Error('envelope-worker.ts runs only as a worker thread');

let contentKey: Uint8Array | undefined;
/** Filler is sealed to a key pair whose secret half is dropped at once: no one can open it. */
const throwaway = generateBoxKeyPair();
throwaway.secretKey.fill(0);

/** A filler slot: an envelope of a random key, sealed as a real one is, so it cannot be told apart. */
function filler(binding: Uint8Array): Uint8Array {
  const key = randomBytes(STREAM_KEY_BYTES);
  const envelope = sealEnvelope(key, binding, throwaway.publicKey);
  wipe(key);
  return envelope;
}
let binding: Uint8Array | undefined;

port.on('message', (message: ToSealer) => {
  switch (message.type) {
    case 'key':
      contentKey = new Uint8Array(message.contentKey);
      binding = message.binding;
      return;
    case 'seal': {
      if (contentKey === undefined || binding === undefined)
        throw new Error('sealing before the key arrived');
      const count = message.keys.length / BOX_PUBLIC_KEY_BYTES;
      const envelopes = new Uint8Array(count * ENVELOPE_BYTES);
      for (let i = 0; i < count; i++) {
        const key = message.keys.subarray(i * BOX_PUBLIC_KEY_BYTES, (i + 1) * BOX_PUBLIC_KEY_BYTES);
        const at = i * ENVELOPE_BYTES;
        envelopes.set(
          key.every((b) => b === 0) ? filler(binding) : sealEnvelope(contentKey, binding, key),
          at,
        );
        envelopes.set(
          message.ids.subarray(i * RECIPIENT_BYTES, (i + 1) * RECIPIENT_BYTES),
          at + RECIPIENT_OFFSET,
        );
      }
      const reply: FromSealer = { seq: message.seq, envelopes };
      port.postMessage(reply, [envelopes.buffer]);
      return;
    }
    case 'end':
      wipe(contentKey);
      contentKey = undefined;
      port.close();
      return;
  }
});
