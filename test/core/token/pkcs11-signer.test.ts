// Ed25519 keys on a real PKCS#11 token (SoftHSM2): made there, never readable, signing what libsodium
// verifies, under the same key id a key file would give.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { keyIdOf, verify } from '../../../src/core/crypto/index.ts';
import { isSihlError } from '../../../src/core/errors.ts';
import { generateTokenKey, openTokenSigner } from '../../../src/core/token/pkcs11-signer.ts';
import { parsePkcs11Reference } from '../../../src/core/token/pkcs11-uri.ts';
import { SOFTHSM_MODULE, softHsmMissing, softHsmToken } from '../../support/softhsm.ts';

const skip = softHsmMissing();

test('a key made on the token signs what libsodium verifies, under the key id of its public key', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const ref = parsePkcs11Reference(token.ref('alice'));
  const made = await generateTokenKey(ref);
  const signer = await openTokenSigner(ref);
  try {
    assert.deepEqual(signer.publicKey, made);
    assert.deepEqual(signer.keyId, keyIdOf(made));
    const message = new TextEncoder().encode('sihl image manifest');
    const signature = signer.sign(message);
    assert.equal(signature.length, 64);
    assert.equal(verify(made, message, signature), true);
    const other = new TextEncoder().encode('sihl image manifest!');
    assert.equal(verify(made, other, signature), false);
    // Ed25519 is deterministic: the token signs the same bytes the same way (RFC 8032 §5.1.6).
    assert.deepEqual(signer.sign(message), signature);
  } finally {
    signer.close();
  }
});

test('the private key cannot be read off the token', { skip }, async () => {
  const token = await softHsmToken();
  const ref = parsePkcs11Reference(token.ref('root-1'));
  await generateTokenKey(ref);
  const p11js = createRequire(import.meta.url)('pkcs11js');
  const p11 = new p11js.PKCS11();
  p11.load(SOFTHSM_MODULE);
  p11.C_Initialize();
  try {
    const slot = p11.C_GetSlotList(true)[0];
    const session = p11.C_OpenSession(slot, p11js.CKF_SERIAL_SESSION | p11js.CKF_RW_SESSION);
    p11.C_Login(session, p11js.CKU_USER, token.pin);
    p11.C_FindObjectsInit(session, [{ type: p11js.CKA_CLASS, value: p11js.CKO_PRIVATE_KEY }]);
    const [key] = p11.C_FindObjects(session, 1);
    p11.C_FindObjectsFinal(session);
    assert.ok(key, 'the private key is on the token');
    assert.throws(() => p11.C_GetAttributeValue(session, key, [{ type: p11js.CKA_VALUE }]), /SENSITIVE/);
    const [extractable] = p11.C_GetAttributeValue(session, key, [{ type: p11js.CKA_EXTRACTABLE }]);
    assert.deepEqual([...extractable.value], [0]);
  } finally {
    p11.C_Finalize();
    p11.close();
  }
});

test('a wrong PIN is refused naming the key reference, never the PIN', { skip }, async () => {
  const token = await softHsmToken();
  const ref = parsePkcs11Reference(token.ref('alice'));
  await generateTokenKey(ref);
  const { pinSource: _p, ...noPinFile } = ref;
  await assert.rejects(openTokenSigner(noPinFile, { pin: '999999' }), (error: unknown) => {
    assert.ok(isSihlError(error, 'USAGE'));
    assert.match(error.message, /refused the PIN/);
    assert.match(error.subject ?? '', /^pkcs11:token=sihl-test;object=alice/);
    assert.doesNotMatch(`${error.message} ${error.subject}`, /999999/);
    return true;
  });
});

test('a label already used on the token is not overwritten', { skip }, async () => {
  const token = await softHsmToken();
  const ref = parsePkcs11Reference(token.ref('alice'));
  const first = await generateTokenKey(ref);
  await assert.rejects(generateTokenKey(ref), /already holds a key labelled "alice"/);
  const signer = await openTokenSigner(ref);
  assert.deepEqual(signer.publicKey, first);
  signer.close();
});

test('a reference to a key or token that is not there says which', { skip }, async () => {
  const token = await softHsmToken();
  await assert.rejects(
    openTokenSigner(parsePkcs11Reference(token.ref('nobody'))),
    /no key pair labelled "nobody"/,
  );
  const wrongToken = token.ref('alice').replace('token=sihl-test', 'token=elsewhere');
  await assert.rejects(openTokenSigner(parsePkcs11Reference(wrongToken)), /no token labelled "elsewhere"/);
});

test('two keys of one token sign side by side, and closing one leaves the other working', {
  skip,
}, async () => {
  const token = await softHsmToken();
  const alice = parsePkcs11Reference(token.ref('alice'));
  const bob = parsePkcs11Reference(token.ref('bob'));
  await generateTokenKey(alice);
  await generateTokenKey(bob);
  const a = await openTokenSigner(alice);
  const b = await openTokenSigner(bob);
  const message = new TextEncoder().encode('both sign');
  assert.equal(verify(a.publicKey, message, a.sign(message)), true);
  a.close();
  a.close(); // twice is harmless
  assert.equal(verify(b.publicKey, message, b.sign(message)), true);
  assert.throws(() => a.sign(message), /was closed/);
  b.close();
});
