// Behaviour of the crypto wrappers and the key files built on them: round trips, and refusal of every
// altered, swapped or foreign input with the error code callers branch on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import {
  checkKdfParams,
  checkSigningPublicKey,
  DEFAULT_KDF_COST,
  generateBoxKeyPair,
  generateContentKey,
  generateSigningKeyPair,
  type KdfParams,
  lockSecret,
  openSealed,
  randomBytes,
  SALT_BYTES,
  StreamDecryptor,
  StreamEncryptor,
  seal,
  sign,
  unlockSecret,
  verify,
} from '../../../src/core/crypto/index.ts';
import { type ErrorCode, SihlError } from '../../../src/core/errors.ts';
import {
  decodePublicKeyFile,
  decodeRootFile,
  encodeRootFile,
  newDeviceKeyFiles,
  newSigningKeyFiles,
  openDeviceKeys,
  openSigningKey,
} from '../../../src/core/keys.ts';
import { pem as pemBlock } from '../../support/fixtures.ts';

/** The cheapest Argon2id cost libsodium allows (OPSLIMIT_MIN, MEMLIMIT_MIN), to keep tests fast. */
const CHEAP = { opslimit: 1, memlimit: 8192 };

const utf8 = (text: string) => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function flipped(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[index] = (copy[index] ?? 0) ^ (1 << bit);
  return copy;
}

/** An assert.throws / assert.rejects validator for a SihlError with the given code. */
function sihlError(code: ErrorCode, message?: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof SihlError, `expected a SihlError, got ${inspect(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

// --- Ed25519 (sign.ts) ---

test('a signature made with a key verifies under its public key', () => {
  const pair = generateSigningKeyPair();
  const message = utf8('firmware 1.2.3');
  assert.equal(verify(pair.publicKey, message, sign(pair.secretKey, message)), true);
});

test('a signature fails to verify when one bit of the message, signature or public key changes', () => {
  const pair = generateSigningKeyPair();
  const message = utf8('firmware 1.2.3');
  const signature = sign(pair.secretKey, message);
  for (const index of [0, message.length - 1]) {
    assert.equal(verify(pair.publicKey, flipped(message, index), signature), false, `message byte ${index}`);
  }
  for (const index of [0, 31, 32, 63]) {
    assert.equal(
      verify(pair.publicKey, message, flipped(signature, index)),
      false,
      `signature byte ${index}`,
    );
  }
  for (const index of [0, 31]) {
    assert.equal(
      verify(flipped(pair.publicKey, index), message, signature),
      false,
      `public key byte ${index}`,
    );
  }
  assert.equal(verify(generateSigningKeyPair().publicKey, message, signature), false, 'another key');
});

test('a signature or public key of the wrong length is a plain no, not an exception', () => {
  const pair = generateSigningKeyPair();
  const message = utf8('m');
  const signature = sign(pair.secretKey, message);
  assert.equal(verify(pair.publicKey, message, signature.subarray(0, 63)), false);
  assert.equal(verify(pair.publicKey, message, new Uint8Array([...signature, 0])), false);
  assert.equal(verify(pair.publicKey.subarray(0, 31), message, signature), false);
});

test('checkSigningPublicKey accepts a generated public key', () => {
  const { publicKey } = generateSigningKeyPair();
  assert.equal(checkSigningPublicKey(publicKey), publicKey);
});

test('checkSigningPublicKey refuses small-order points and keys of the wrong length', () => {
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const zero = new Uint8Array(32); // y = 0: a point of order 4
  for (const key of [identity, zero]) {
    assert.throws(() => checkSigningPublicKey(key), sihlError('KEY_INVALID', /not a valid Ed25519 point/));
  }
  for (const length of [0, 31, 33, 64]) {
    assert.throws(() => checkSigningPublicKey(new Uint8Array(length)), sihlError('KEY_INVALID', /32 bytes/));
  }
});

// --- Sealed boxes (box.ts) ---

test('a sealed box opens with the recipient key pair and gives back the message', () => {
  const pair = generateBoxKeyPair();
  const message = randomBytes(32);
  assert.deepEqual(openSealed(pair, seal(pair.publicKey, message)), message);
});

test('a sealed box does not open with another key pair', () => {
  const sealed = seal(generateBoxKeyPair().publicKey, randomBytes(32));
  assert.equal(openSealed(generateBoxKeyPair(), sealed), null);
});

test('a sealed box with any one byte altered, or cut short, does not open', () => {
  const pair = generateBoxKeyPair();
  const sealed = seal(pair.publicKey, randomBytes(32));
  // Ephemeral public key, tag, ciphertext.
  for (const index of [0, 31, 32, 47, 48, sealed.length - 1]) {
    assert.equal(openSealed(pair, flipped(sealed, index)), null, `byte ${index}`);
  }
  assert.equal(openSealed(pair, sealed.subarray(0, sealed.length - 1)), null);
  assert.equal(openSealed(pair, sealed.subarray(0, 47)), null);
});

test('sealing to a public key of the wrong length is refused', () => {
  assert.throws(() => seal(new Uint8Array(31), randomBytes(32)), sihlError('KEY_INVALID'));
});

// --- Secretstream (stream.ts) ---

const AD = utf8('manifest binding');

function encryptChunks(key: Uint8Array, chunks: readonly Uint8Array[], ad = AD) {
  const encryptor = new StreamEncryptor(key);
  const ciphertexts = chunks.map((chunk, i) => encryptor.push(chunk, ad, i === chunks.length - 1));
  return { header: encryptor.header, ciphertexts };
}

const threeChunks = [randomBytes(256), randomBytes(256), randomBytes(100)];

test('a stream of three chunks decrypts in order, with only the last one final', () => {
  const key = generateContentKey();
  const { header, ciphertexts } = encryptChunks(key, threeChunks);
  const decryptor = new StreamDecryptor(key, header);
  const pulled = ciphertexts.map((ciphertext) => decryptor.pull(ciphertext, AD));
  assert.deepEqual(
    pulled.map((chunk) => chunk.plaintext),
    threeChunks,
  );
  assert.deepEqual(
    pulled.map((chunk) => chunk.final),
    [false, false, true],
  );
});

test('a stream chunk does not decrypt under other associated data', () => {
  const key = generateContentKey();
  const { header, ciphertexts } = encryptChunks(key, threeChunks);
  const decryptor = new StreamDecryptor(key, header);
  assert.throws(
    () => decryptor.pull(ciphertexts[0] as Uint8Array, utf8('another binding')),
    sihlError('STREAM_DECRYPT_FAILED'),
  );
});

test('stream chunks out of order, altered or under another key do not decrypt', () => {
  const key = generateContentKey();
  const { header, ciphertexts } = encryptChunks(key, threeChunks);
  const [first, second] = ciphertexts as [Uint8Array, Uint8Array, Uint8Array];
  assert.throws(() => new StreamDecryptor(key, header).pull(second, AD), sihlError('STREAM_DECRYPT_FAILED'));
  const reordered = new StreamDecryptor(key, header);
  reordered.pull(first, AD);
  assert.throws(() => reordered.pull(first, AD), sihlError('STREAM_DECRYPT_FAILED'), 'a replayed chunk');
  assert.throws(
    () => new StreamDecryptor(key, header).pull(flipped(first, 10), AD),
    sihlError('STREAM_DECRYPT_FAILED'),
  );
  assert.throws(
    () => new StreamDecryptor(generateContentKey(), header).pull(first, AD),
    sihlError('STREAM_DECRYPT_FAILED'),
  );
  assert.throws(
    () => new StreamDecryptor(key, header).pull(first.subarray(0, 16), AD),
    sihlError('STREAM_DECRYPT_FAILED'),
  );
});

test('a stream cut at a chunk boundary still decrypts but never reports a final chunk', () => {
  // Why the caller must insist on FINAL exactly at the end (see the note atop stream.ts).
  const key = generateContentKey();
  const { header, ciphertexts } = encryptChunks(key, threeChunks);
  const decryptor = new StreamDecryptor(key, header);
  const finals = ciphertexts.slice(0, 2).map((ciphertext) => decryptor.pull(ciphertext, AD).final);
  assert.deepEqual(finals, [false, false]);
});

test('a stream decryptor refuses a key or header of the wrong length', () => {
  const key = generateContentKey();
  const { header } = encryptChunks(key, threeChunks);
  assert.throws(() => new StreamDecryptor(key.subarray(0, 31), header), sihlError('STREAM_DECRYPT_FAILED'));
  assert.throws(() => new StreamDecryptor(key, header.subarray(0, 23)), sihlError('STREAM_DECRYPT_FAILED'));
});

test('a stream encryptor refuses to push after the final chunk', () => {
  // push() wipes the state at FINAL; pushing again would encrypt under an all-zero, public state.
  const encryptor = new StreamEncryptor(generateContentKey());
  encryptor.push(randomBytes(16), AD, true);
  assert.throws(() => encryptor.push(utf8('secret firmware'), AD, false), sihlError('INTERNAL'));
});

test('the same plaintext encrypted twice under one key gives different headers and ciphertexts', () => {
  const key = generateContentKey();
  const a = encryptChunks(key, threeChunks);
  const b = encryptChunks(key, threeChunks);
  assert.notDeepEqual(a.header, b.header);
  for (const [i, ciphertext] of a.ciphertexts.entries()) assert.notDeepEqual(ciphertext, b.ciphertexts[i]);
});

// --- Passphrase box (passphrase-box.ts) ---

test('a locked secret unlocks with its passphrase and associated data', async () => {
  const secret = randomBytes(32);
  const ad = utf8('public part');
  const locked = await lockSecret(secret, 'correct horse', ad, CHEAP);
  assert.deepEqual(await unlockSecret(locked, 'correct horse', ad), secret);
});

test('a secret locked at the default cost records that cost and unlocks', async () => {
  const secret = randomBytes(32);
  const locked = await lockSecret(secret, 'correct horse', new Uint8Array(0));
  assert.equal(locked.kdf.opslimit, DEFAULT_KDF_COST.opslimit);
  assert.equal(locked.kdf.memlimit, DEFAULT_KDF_COST.memlimit);
  assert.deepEqual(await unlockSecret(locked, 'correct horse', new Uint8Array(0)), secret);
});

test('a wrong passphrase is refused with an error that names neither the secret nor the passphrases', async () => {
  const secret = randomBytes(32);
  const locked = await lockSecret(secret, 'correct horse', new Uint8Array(0), CHEAP);
  let caught: unknown;
  await assert.rejects(unlockSecret(locked, 'battery staple', new Uint8Array(0)), (error) => {
    caught = error;
    return sihlError('PASSPHRASE_WRONG')(error);
  });
  const shown = [(caught as Error).message, String(caught), inspect(caught)].join('\n');
  for (const leak of [
    hex(secret),
    b64(secret),
    Buffer.from(secret).toString('base64url'),
    'correct horse',
    'battery staple',
  ]) {
    assert.equal(shown.includes(leak), false, `the error shows ${leak}`);
  }
});

test('a locked secret does not unlock under altered associated data', async () => {
  const locked = await lockSecret(randomBytes(32), 'pw', utf8('public part'), CHEAP);
  await assert.rejects(unlockSecret(locked, 'pw', utf8('public parT')), sihlError('PASSPHRASE_WRONG'));
});

test('an empty passphrase is refused', async () => {
  await assert.rejects(
    lockSecret(randomBytes(32), '', new Uint8Array(0), CHEAP),
    sihlError('PASSPHRASE_MISSING'),
  );
});

test('key derivation parameters demanding 8 GiB of memory are refused before any work', async () => {
  const kdf: KdfParams = {
    alg: 'argon2id13',
    opslimit: 2,
    memlimit: 8 * 1024 ** 3,
    salt: new Uint8Array(SALT_BYTES),
  };
  assert.throws(() => checkKdfParams(kdf), sihlError('KEY_FILE_MALFORMED'));
  const locked = await lockSecret(randomBytes(32), 'pw', new Uint8Array(0), CHEAP);
  await assert.rejects(
    unlockSecret({ ...locked, kdf }, 'pw', new Uint8Array(0)),
    sihlError('KEY_FILE_MALFORMED'),
  );
});

test('key derivation parameters out of range in other ways are refused', () => {
  const good: KdfParams = { alg: 'argon2id13', ...CHEAP, salt: new Uint8Array(SALT_BYTES) };
  checkKdfParams(good);
  for (const bad of [
    { ...good, opslimit: 0 },
    { ...good, opslimit: 17 },
    { ...good, opslimit: 1.5 },
    { ...good, memlimit: 4096 },
    { ...good, memlimit: Number.NaN },
    { ...good, salt: new Uint8Array(SALT_BYTES - 1) },
    { ...good, alg: 'argon2i13' as 'argon2id13' },
  ]) {
    assert.throws(() => checkKdfParams(bad), sihlError('KEY_FILE_MALFORMED'), inspect(bad));
  }
});

// --- Key files (keys.ts) ---

const PASSPHRASE = 'correct horse battery staple';
const signingFiles = await newSigningKeyFiles('alice', PASSPHRASE);
const deviceFiles = await newDeviceKeyFiles('device-1', PASSPHRASE);

test('a new signing key file opens with its passphrase to the key in its public file', async () => {
  const pair = await openSigningKey(utf8(signingFiles.privateFile), PASSPHRASE);
  assert.deepEqual(pair.publicKey, signingFiles.info.sign);
  assert.deepEqual(decodePublicKeyFile(utf8(signingFiles.publicFile)).sign, pair.publicKey);
  const message = utf8('m');
  assert.equal(verify(pair.publicKey, message, sign(pair.secretKey, message)), true);
});

test('a signing key file does not open with a wrong passphrase', async () => {
  await assert.rejects(
    openSigningKey(utf8(signingFiles.privateFile), 'not it'),
    sihlError('PASSPHRASE_WRONG'),
  );
});

test('a device key file opened as a signing key is refused as the wrong kind', async () => {
  await assert.rejects(
    openSigningKey(utf8(deviceFiles.privateFile), PASSPHRASE),
    sihlError('KEY_WRONG_KIND'),
  );
});

test('a PEM private key is refused as malformed with a hint that it is PEM', async () => {
  const pem = pemBlock('PRIVATE KEY', 'MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC');
  await assert.rejects(openSigningKey(utf8(pem), PASSPHRASE), sihlError('KEY_FILE_MALFORMED', /PEM/));
});

test('a signing key file whose public key was swapped for another does not open', async () => {
  // keys.ts binds the public part to the ciphertext as associated data, so the swap breaks the tag.
  const record = JSON.parse(signingFiles.privateFile) as Record<string, unknown>;
  record.sign = b64(generateSigningKeyPair().publicKey);
  await assert.rejects(
    openSigningKey(utf8(JSON.stringify(record)), PASSPHRASE),
    sihlError('PASSPHRASE_WRONG'),
  );
});

test('neither key file contains the secret seed in hex or base64', async () => {
  const pair = await openSigningKey(utf8(signingFiles.privateFile), PASSPHRASE);
  const seed = pair.secretKey.subarray(0, 32);
  for (const encoded of [
    hex(seed),
    b64(seed),
    b64(seed).replace(/=+$/, ''),
    Buffer.from(seed).toString('base64url'),
  ]) {
    assert.equal(signingFiles.privateFile.includes(encoded), false);
    assert.equal(signingFiles.publicFile.includes(encoded), false);
  }
});

test('a new device key file opens to both of its key pairs', async () => {
  const keys = await openDeviceKeys(utf8(deviceFiles.privateFile), PASSPHRASE);
  assert.deepEqual(keys.sign.publicKey, deviceFiles.info.sign);
  assert.deepEqual(keys.box.publicKey, deviceFiles.info.box);
  const published = decodePublicKeyFile(utf8(deviceFiles.publicFile));
  assert.equal(published.kind, 'device');
  assert.deepEqual(published.box, keys.box.publicKey);
  const message = randomBytes(32);
  assert.deepEqual(openSealed(keys.box, seal(published.box as Uint8Array, message)), message);
});

test('a root file round-trips its keys and threshold', () => {
  const root = {
    keys: [generateSigningKeyPair().publicKey, generateSigningKeyPair().publicKey],
    threshold: 2,
  };
  assert.deepEqual(decodeRootFile(utf8(encodeRootFile(root))), { ...root, version: 1 });
  assert.equal(decodeRootFile(utf8(encodeRootFile({ ...root, version: 3 }))).version, 3);
});

test('a root file listing a key twice is refused', () => {
  const key = generateSigningKeyPair().publicKey;
  const text = encodeRootFile({ keys: [key, key], threshold: 1 });
  assert.throws(() => decodeRootFile(utf8(text)), sihlError('KEY_FILE_MALFORMED', /twice/));
});

test('a root file with threshold 0 or above its key count is refused', () => {
  const keys = [generateSigningKeyPair().publicKey];
  for (const threshold of [0, 2]) {
    assert.throws(
      () => decodeRootFile(utf8(encodeRootFile({ keys, threshold }))),
      sihlError('KEY_FILE_MALFORMED'),
    );
  }
});
