// The vectors that close the gaps a C bootloader written from FORMAT.md alone ran into: LZMA2 (the
// compression a microcontroller decodes), secretstream tags other than MESSAGE and FINAL, which error
// wins when a payload breaks two rules, images that break two rules, root chain statements at or
// below the pinned version, and a creation time past JavaScript's last date. Every image is LZMA2, so
// the C bootloader (bootloader/) decodes each of them to the end. Part of generate.ts.
import { createHash } from 'node:crypto';
import { streamBinding } from '../../src/core/format/manifest.ts';
import { encodeRootChain, makeRootStatement } from '../../src/core/format/root-chain.ts';
import { signEntry } from '../../src/core/format/signatures.ts';
import { bufferSource, readImage } from '../../src/core/image/index.ts';
import { contentKeyFile, encodeRootFile } from '../../src/core/keys.ts';
import { type CraftBase, craftImage, envelopeFor, lzma2Of, TAG } from './craft.ts';
import {
  fixed,
  fixedDelegation,
  packVector,
  pinnedRoot,
  rootJson,
  rotatedRoot,
  type VectorCase,
  vectorFirmware,
} from './generate.ts';

type Case = Omit<VectorCase, 'sha256'>;

/** The passphrase of lzma2-encrypted.content-key. */
export const KEY_FILE_PASSPHRASE = 'sihl test vector';

/** Bytes no compressor can shrink, reproducibly: SHA-256 in counter mode. */
function noise(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i * 32 < length; i++) {
    out.set(
      createHash('sha256')
        .update(`sihl vector noise ${i}`)
        .digest()
        .subarray(0, Math.min(32, length - i * 32)),
      i * 32,
    );
  }
  return out;
}

const flip = (bytes: Uint8Array, at: number) => Uint8Array.from(bytes, (b, i) => (i === at ? b ^ 1 : b));

export async function gapVectors(): Promise<{ files: Record<string, Uint8Array>; cases: Case[] }> {
  const firmware = await vectorFirmware();
  const base: CraftBase = {
    firmware,
    delegation: fixedDelegation(),
    signers: [fixed.alice, fixed.bob],
    releaseId: fixed.releaseId,
    created: fixed.created,
  };
  const files: Record<string, Uint8Array> = {};
  const cases: Case[] = [];
  const add = (file: string, bytes: Uint8Array, c: Omit<Case, 'file'>) => {
    files[file] = bytes;
    cases.push({ file, ...c });
  };
  const pinned = rootJson(pinnedRoot);

  // §Compression, algorithm 2: what `sihl image pack --compression lzma2` writes.
  const lzma2 = (await packVector(false, { compression: 'lzma2', windowLog: 14 })).image;
  add('lzma2.sihl', lzma2, {
    description: 'compressed with the Thumb filter and raw LZMA2 (2^14 dictionary), signed by alice and bob',
    expect: 'valid',
    reproducible: true,
    rule: '§Compression',
  });
  const encrypted = await packVector(true, { compression: 'lzma2', windowLog: 14, chunkSize: 256 });
  const encryptedManifest = (await readImage(bufferSource(encrypted.image))).manifestBytes;
  if (!encrypted.contentKey) throw new Error('no content key');
  files['lzma2-encrypted.envelope'] = envelopeFor(
    encrypted.contentKey,
    streamBinding(encryptedManifest),
    fixed.device.publicKey,
  );
  // §Key files: the same content key in a private key file (passphrase KEY_FILE_PASSPHRASE), and the
  // vectors' pinned root as a root trust file.
  files['lzma2-encrypted.content-key'] = new TextEncoder().encode(
    await contentKeyFile(
      'lzma2-encrypted.sihl',
      encrypted.contentKey,
      streamBinding(encryptedManifest),
      KEY_FILE_PASSPHRASE,
    ),
  );
  files['root.trust'] = new TextEncoder().encode(encodeRootFile(pinnedRoot));
  add('lzma2-encrypted.sihl', encrypted.image, {
    description: 'as lzma2.sihl, encrypted in 256-byte chunks; open it with lzma2-encrypted.envelope',
    expect: 'valid',
    envelope: 'lzma2-encrypted.envelope',
    reproducible: false,
    rule: '§Encryption',
  });
  const stream = lzma2Of(firmware, 16);
  add(
    'lzma2-trailing-byte.sihl',
    craftImage(base, { compressed: Buffer.concat([stream, Uint8Array.of(0)]) }).image,
    {
      description: 'a signed LZMA2 payload with one zero byte after the end marker',
      expect: 'DECOMPRESS_FAILED',
      reproducible: true,
      rule: '§Compression',
    },
  );
  add(
    'lzma2-unterminated.sihl',
    craftImage(base, { compressed: stream.subarray(0, stream.length - 1) }).image,
    {
      description: 'a signed LZMA2 payload without its end marker (the last byte, 0x00)',
      expect: 'DECOMPRESS_FAILED',
      reproducible: true,
      rule: '§Compression',
    },
  );
  // The first chunk resets everything (control 0xE0..0xFF: 5 header bytes), so its range coder starts at 6.
  if ((stream[0] as number) < 0xe0) throw new Error('the LZMA2 stream does not open with a full reset');
  add('lzma2-range-coder-byte.sihl', craftImage(base, { compressed: flip(stream, 6) }).image, {
    description:
      "the LZMA2 stream with the first byte of its first chunk's range coder set to 0x01 (it must be 0x00; a " +
      'decoder that ignores it still decodes the same firmware)',
    expect: 'DECOMPRESS_FAILED',
    reproducible: true,
    rule: '§Compression',
  });
  const far = Buffer.concat([noise(6000), noise(2000)]);
  add(
    'lzma2-beyond-window.sihl',
    craftImage({ ...base, firmware: far }, { compressed: lzma2Of(far, 16), windowLog: 12 }).image,
    {
      description:
        '8000 bytes whose last 2000 repeat the first, compressed with a 64 KiB dictionary (a match 6000 bytes back) ' +
        'and signed as window_log 12 (4 KiB)',
      expect: 'DECOMPRESS_FAILED',
      reproducible: true,
      rule: '§Compression',
    },
  );
  add(
    'lzma2-longer-than-signed.sihl',
    craftImage({ ...base, firmware: firmware.subarray(0, 2999) }, { compressed: stream }).image,
    {
      description: 'the 3000-byte LZMA2 stream signed as 2999 bytes of plaintext',
      expect: 'PLAINTEXT_SIZE_MISMATCH',
      reproducible: true,
      rule: '§Compression',
    },
  );

  // §Encryption: tags. The stream is about 1.5 KB, so 256-byte chunks make 6 messages.
  const tagged = (file: string, tags: Record<number, number>, expect: string, what: string, last = false) => {
    const count = Math.ceil(stream.length / 256);
    const list = Array.from(
      { length: count },
      (_, i) => tags[i] ?? (i === count - 1 ? TAG.final : TAG.message),
    );
    if (last) list[count - 1] = tags[-1] as number;
    const made = craftImage(base, { compressed: stream, encryption: { chunkSize: 256, tags: list } });
    const envelope = file.replace('.sihl', '.envelope');
    files[envelope] = envelopeFor(made.contentKey as Uint8Array, made.binding, fixed.device.publicKey);
    add(file, made.image, {
      description: `encrypted in 256-byte chunks, ${what}; open it with ${envelope}`,
      expect,
      envelope,
      reproducible: false,
      rule: '§Encryption',
    });
  };
  tagged(
    'tag-push-middle.sihl',
    { 1: TAG.push },
    'STREAM_DECRYPT_FAILED',
    'the second message tagged PUSH (1)',
  );
  tagged(
    'tag-rekey-middle.sihl',
    { 1: TAG.rekey },
    'STREAM_DECRYPT_FAILED',
    'the second message tagged REKEY (2)',
  );
  tagged(
    'tag-push-last.sihl',
    { [-1]: TAG.push },
    'STREAM_DECRYPT_FAILED',
    'the last message tagged PUSH',
    true,
  );
  tagged(
    'tag-final-middle.sihl',
    { 1: TAG.final },
    'STREAM_TRAILING_DATA',
    'the second message tagged FINAL',
  );
  tagged(
    'tag-message-last.sihl',
    { [-1]: TAG.message },
    'STREAM_TRUNCATED',
    'the last message tagged MESSAGE',
    true,
  );

  // §Which error: message order decides between decryption and decompression.
  const both = (file: string, garbage: number, flipped: number, expect: string, what: string) => {
    const made = craftImage(base, {
      compressed: stream,
      encryption: { chunkSize: 256, garbage: [garbage], flipped: [flipped] },
    });
    const envelope = file.replace('.sihl', '.envelope');
    files[envelope] = envelopeFor(made.contentKey as Uint8Array, made.binding, fixed.device.publicKey);
    add(file, made.image, {
      description: `encrypted in 256-byte chunks and signed as is: ${what}; open it with ${envelope}`,
      expect,
      envelope,
      reproducible: false,
      rule: '§Which error',
    });
  };
  both(
    'garbage-then-forged.sihl',
    0,
    1,
    'DECOMPRESS_FAILED',
    'message 0 decrypts to bytes that are not LZMA2, message 1 fails authentication',
  );
  both(
    'forged-then-garbage.sihl',
    1,
    0,
    'STREAM_DECRYPT_FAILED',
    'message 0 fails authentication, message 1 decrypts to bytes that are not LZMA2',
  );

  // §Verification: an image that breaks two rules is refused for the one checked first.
  const parsed = await readImage(bufferSource(lzma2));
  const signaturesAt = 32 + parsed.header.manifestLength + parsed.header.delegationLength;
  add('signature-and-payload.sihl', flip(flip(lzma2, signaturesAt + 4 + 32), lzma2.length - 5), {
    description: "lzma2.sihl with a bit flipped in alice's signature and one in the payload",
    expect: 'SIGNATURE_INVALID',
    reproducible: true,
    rule: '§Verification',
  });
  const delegationAt = 32 + parsed.header.manifestLength;
  add('manifest-and-delegation.sihl', flip(flip(lzma2, 32), delegationAt + 6), {
    description:
      "lzma2.sihl with the manifest's first record tag changed to 0x00 and a reserved byte of the delegation set",
    expect: 'MANIFEST_MALFORMED',
    reproducible: true,
    rule: '§Verification',
  });
  add('model-and-counter.sihl', lzma2, {
    description:
      'lzma2.sihl (model movehub, security version 3) on a device of model cityhub whose counter is 4',
    expect: 'MODEL_MISMATCH',
    reproducible: true,
    device: { model: 'cityhub', securityCounter: 4 },
    rule: '§Verification',
  });

  // §Root chain: statements at or below the pinned version are skipped, their signatures unchecked.
  const v2 = makeRootStatement(rotatedRoot(2), (message) => ({
    previous: [signEntry(fixed.root.secretKey, fixed.root.publicKey, message)],
    own: [signEntry(fixed.rotatedRoot.secretKey, fixed.rotatedRoot.publicKey, message)],
  }));
  const third = { version: 3, threshold: 1, keys: [fixed.thirdRoot.publicKey] };
  const v3 = makeRootStatement(third, (message) => ({
    previous: [signEntry(fixed.rotatedRoot.secretKey, fixed.rotatedRoot.publicKey, message)],
    own: [signEntry(fixed.thirdRoot.secretKey, fixed.thirdRoot.publicKey, message)],
  }));
  // Chain header 4, statement body 40, block header 4, key id 32: the first byte of v2's previous signature.
  const chain = flip(encodeRootChain([v2, v3]), 4 + 40 + 4 + 32);
  const stale = (
    await packVector(false, {
      delegation: fixedDelegation(2, fixed.thirdRoot),
      rootChain: chain,
      compression: 'lzma2',
      windowLog: 14,
    })
  ).image;
  add('root-chain-stale-statement.sihl', stale, {
    description:
      'a chain of two statements, version 2 with a flipped bit in its previous signature and version 3 correctly ' +
      'signed (by the version 2 key and its own), a delegation signed by the version 3 key; a device that pinned ' +
      'version 2 skips the broken statement and reaches version 3',
    expect: 'valid',
    reproducible: true,
    pinnedRoot: rootJson(rotatedRoot(2)),
    resultingRoot: rootJson(third),
    rule: '§Root chain',
  });
  add('root-chain-stale-statement-from-1.sihl', stale, {
    description:
      'root-chain-stale-statement.sihl on a device that pinned version 1: it must check the broken statement',
    expect: 'SIGNATURE_INVALID',
    reproducible: true,
    pinnedRoot: pinned,
    rule: '§Root chain',
  });

  // §Manifest: created is any u64 up to 2^53 − 1, past JavaScript's last date (8.64e12 s).
  add('created-far-future.sihl', craftImage({ ...base, created: 2 ** 53 - 1 }).image, {
    description:
      'lzma2, created 2^53 − 1 seconds after 1970 (informational; past the last date JavaScript can show)',
    expect: 'valid',
    reproducible: true,
    rule: '§Manifest',
  });
  return { files, cases };
}
