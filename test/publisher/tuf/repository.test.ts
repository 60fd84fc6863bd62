// The pure half: TUF keys and key ids, the role builders' input checks, signing, root rotation rules,
// expiry defaults, and what publish refuses to write.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, MetadataKind } from '@tufjs/models';
import { sha256 } from '../../../src/core/crypto/index.ts';
import { isSihlError } from '../../../src/core/errors.ts';
import { toHex, utf8 } from '../../../src/core/format/bytes.ts';
import {
  makeRoot,
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metadataFilePath,
  metaFileOf,
  parseMetadata,
  publicKeyOfTufKey,
  publishRepository,
  rotateRoot,
  serialize,
  signerFrom,
  signWith,
  TIMESTAMP_LIFETIME_MS,
  targetEntryOf,
  targetFilePath,
  tufKeyIdOf,
  tufKeyOf,
} from '../../../src/publisher/tuf/index.ts';
import { tempDir, testKey } from '../../helpers.ts';
import { firstRoot, type RoleKeyPairs, release, roleKeyPairs, rolesOf, signers } from './support.ts';

const code = (expected: Parameters<typeof isSihlError>[1]) => (error: unknown) =>
  isSihlError(error, expected);
const at = (iso: string) => () => new Date(iso);

test('a TUF key id is the SHA-256 of the key object in canonical JSON', () => {
  const publicKey = testKey('key id').publicKey;
  const text = `{"keytype":"ed25519","keyval":{"public":"${toHex(publicKey)}"},"scheme":"ed25519"}`;
  assert.equal(tufKeyIdOf(publicKey), toHex(sha256(utf8.encode(text))));
  const key = tufKeyOf(publicKey);
  assert.equal(canonicalize(key.toJSON()), text);
  assert.deepEqual(publicKeyOfTufKey(key), publicKey);
});

test('a TUF key whose id does not match its content, or that is not ed25519, is refused', () => {
  const publicKey = testKey('mismatch').publicKey;
  const wrongId = new Key({
    keyID: tufKeyIdOf(testKey('other').publicKey),
    keyType: 'ed25519',
    scheme: 'ed25519',
    keyVal: { public: toHex(publicKey) },
  });
  assert.throws(() => publicKeyOfTufKey(wrongId), code('KEY_INVALID'));
  const rsa = new Key({
    keyID: tufKeyIdOf(publicKey),
    keyType: 'rsa',
    scheme: 'rsassa-pss-sha256',
    keyVal: { public: toHex(publicKey) },
  });
  assert.throws(() => publicKeyOfTufKey(rsa), code('KEY_INVALID'));
  assert.throws(() => tufKeyOf(new Uint8Array(32)), code('KEY_INVALID'));
});

test('signatures made through sihl verify with @tufjs/models, and each signer adds one', () => {
  const keys = roleKeyPairs('models');
  const root = firstRoot(keys);
  root.verifyDelegate(MetadataKind.Root, root);
  const targets = signWith(makeTargets({ version: 1, targets: [] }), signers(keys.approvers.slice(0, 1)));
  assert.throws(() => root.verifyDelegate(MetadataKind.Targets, targets), /signed by 1\/2 keys/);
  const both = signWith(targets, signers(keys.approvers.slice(1, 2)));
  root.verifyDelegate(MetadataKind.Targets, both);
  assert.equal(Object.keys(targets.signatures).length, 1, 'signWith leaves its input alone');
  assert.equal(Object.keys(both.signatures).length, 2);
});

test('a signer whose public key does not belong to its secret key is caught when it signs', () => {
  const pair = testKey('liar');
  const liar = { publicKey: testKey('someone else').publicKey, sign: signerFrom(pair).sign };
  assert.throws(() => signWith(makeTargets({ version: 1, targets: [] }), [liar]), code('SIGNATURE_INVALID'));
});

test('serialized metadata parses back to the same metadata', () => {
  const root = firstRoot(roleKeyPairs('round trip'));
  const parsed = parseMetadata('root', serialize(root));
  assert.ok(parsed.signed.equals(root.signed));
  assert.deepEqual(serialize(parsed), serialize(root));
  assert.throws(() => parseMetadata('targets', serialize(root)), code('TUF_METADATA_MALFORMED'));
  assert.throws(() => parseMetadata('root', utf8.encode('{')), code('TUF_METADATA_MALFORMED'));
});

test('makeRoot refuses a threshold above the key count, a zero threshold and a key listed twice', () => {
  const roles = rolesOf(roleKeyPairs('bad roles'));
  assert.throws(
    () => makeRoot({ version: 1, roles: { ...roles, targets: { ...roles.targets, threshold: 4 } } }),
    code('USAGE'),
  );
  assert.throws(
    () => makeRoot({ version: 1, roles: { ...roles, root: { ...roles.root, threshold: 0 } } }),
    code('USAGE'),
  );
  const twice = { keys: [roles.root.keys[0] as Uint8Array, roles.root.keys[0] as Uint8Array], threshold: 2 };
  assert.throws(() => makeRoot({ version: 1, roles: { ...roles, root: twice } }), code('USAGE'));
  assert.throws(() => makeRoot({ version: 0, roles }), code('USAGE'));
});

test('target names are plain relative paths, and custom data must be canonical JSON', () => {
  for (const bad of [
    '',
    '/abs',
    'a/../b',
    '.hidden',
    'a//b',
    'sp ace',
    'q?x',
    'back\\slash',
    'x'.repeat(256),
  ]) {
    assert.throws(() => targetEntryOf(bad, new Uint8Array(1)), code('USAGE'), bad);
  }
  assert.equal(targetFilePath('fw.bin', 'ab'.repeat(32)), `targets/${'ab'.repeat(32)}.fw.bin`);
  const entry = targetEntryOf('acme/fw.bin', new Uint8Array(3), { model: 'x1', securityVersion: 4 });
  assert.deepEqual(makeTargets({ version: 1, targets: [entry] }).signed.targets['acme/fw.bin']?.custom, {
    model: 'x1',
    securityVersion: 4,
  });
  assert.throws(
    () => makeTargets({ version: 1, targets: [{ ...entry, custom: { ratio: 0.5 } }] }),
    code('USAGE'),
  );
  assert.throws(() => makeTargets({ version: 1, targets: [entry, entry] }), code('USAGE'));
});

test('expiry defaults to now plus the role lifetime, in whole seconds UTC', () => {
  const snapshot = { version: 1, length: 10, sha256: '00'.repeat(32) };
  const timestamp = makeTimestamp({ version: 1, snapshot, now: at('2026-11-02T10:20:30.456Z') });
  assert.equal(timestamp.signed.expires, '2026-11-03T10:20:30Z');
  assert.equal(TIMESTAMP_LIFETIME_MS, 24 * 60 * 60 * 1000);
  assert.equal(
    firstRoot(roleKeyPairs('expiry'), at('2026-01-01T00:00:00Z')).signed.expires,
    '2027-01-01T00:00:00Z',
  );
  const explicit = makeTimestamp({ version: 1, snapshot, expires: new Date('2030-05-05T05:05:05.999Z') });
  assert.equal(explicit.signed.expires, '2030-05-05T05:05:05Z');
});

test('rotateRoot needs the old threshold and the new threshold, and only root keys may sign', () => {
  const keys: RoleKeyPairs = {
    ...roleKeyPairs('thresholds'),
    root: ['r1', 'r2', 'r3'].map((n) => testKey(`thresholds ${n}`)),
  };
  const roles1 = { ...rolesOf(keys), root: { keys: keys.root.map((k) => k.publicKey), threshold: 2 } };
  const root1 = signWith(makeRoot({ version: 1, roles: roles1 }), signers(keys.root.slice(0, 2)));
  const newRootKeys = ['n1', 'n2', 'n3'].map((n) => testKey(`thresholds ${n}`));
  const roles2 = { ...roles1, root: { keys: newRootKeys.map((k) => k.publicKey), threshold: 2 } };
  const old2 = signers(keys.root.slice(0, 2));
  const new2 = signers(newRootKeys.slice(1));
  const root2 = rotateRoot(root1, roles2, old2, new2);
  assert.equal(root2.signed.version, 2);
  root1.verifyDelegate(MetadataKind.Root, root2);
  root2.verifyDelegate(MetadataKind.Root, root2);
  assert.throws(() => rotateRoot(root1, roles2, old2.slice(1), new2), code('SIGNATURE_THRESHOLD'));
  assert.throws(() => rotateRoot(root1, roles2, old2, new2.slice(1)), code('SIGNATURE_THRESHOLD'));
  assert.throws(
    () => rotateRoot(root1, roles2, signers(keys.approvers), new2),
    code('SIGNATURE_UNKNOWN_KEY'),
  );
});

test('publish never replaces a published file with different content', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('immutable');
  const root = firstRoot(keys);
  const files = [{ name: 'fw.bin', bytes: utf8.encode('one') }];
  // One clock for both: expiries are whole seconds, so two calls a second apart would sign other bytes.
  const at = new Date();
  const first = await publishRepository(
    dir,
    release({ roots: [root], keys, version: 1, files, now: () => at }),
  );
  assert.equal(first.written.at(-1), 'metadata/timestamp.json');
  const again = await publishRepository(
    dir,
    release({ roots: [root], keys, version: 1, files, now: () => at }),
  );
  assert.deepEqual(again.written, []);
  // A different 1.targets.json under a new snapshot and timestamp: clients that cached version 1 would
  // never see the change, so publish refuses it, before writing anything.
  const changed = release({
    roots: [],
    keys,
    version: 1,
    files: [{ name: 'fw.bin', bytes: utf8.encode('two') }],
  });
  const snapshot = signWith(
    makeSnapshot({ version: 2, targets: metaFileOf(changed.targets) }),
    signers(keys.snapshot),
  );
  const timestamp = signWith(
    makeTimestamp({ version: 2, snapshot: metaFileOf(snapshot) }),
    signers(keys.timestamp),
  );
  await assert.rejects(publishRepository(dir, { ...changed, snapshot, timestamp }), code('FILE_EXISTS'));
  // A timestamp must rise: clients ignore a changed file under a version they already have.
  const next = release({ roots: [], keys, version: 2, files });
  const sameVersion = makeTimestamp({ version: 1, snapshot: metaFileOf(next.snapshot) });
  const stale = { ...next, timestamp: signWith(sameVersion, signers(keys.timestamp)) };
  await assert.rejects(
    publishRepository(dir, stale),
    (error) => isSihlError(error, 'USAGE') && /must be higher/.test(error.message),
  );
  assert.deepEqual((await readdir(join(dir, 'metadata'))).sort(), [
    '1.root.json',
    '1.snapshot.json',
    '1.targets.json',
    'timestamp.json',
  ]);
  assert.deepEqual((await readdir(join(dir, 'targets'))).length, 1);
});

test('publish refuses content that does not match its entry and a damaged file for a new target; a published target is carried over unread', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('content');
  const root = firstRoot(keys);
  const good = release({
    roots: [root],
    keys,
    version: 1,
    files: [{ name: 'fw.bin', bytes: utf8.encode('good') }],
  });
  await assert.rejects(
    publishRepository(dir, { ...good, contents: [{ name: 'fw.bin', bytes: utf8.encode('evil') }] }),
    code('PAYLOAD_DIGEST_MISMATCH'),
  );
  const source = join(dir, 'source.bin');
  await writeFile(source, 'good');
  await publishRepository(dir, { ...good, contents: [{ name: 'fw.bin', path: source }] });
  const served = join(dir, targetFilePath('fw.bin', targetEntryOf('fw.bin', utf8.encode('good')).sha256));
  assert.equal(await readFile(served, 'utf8'), 'good');
  await writeFile(served, 'evil');
  // A file already at a new target's content address is checked like given content: damaged or planted.
  const files = [
    { name: 'fw.bin', bytes: utf8.encode('good') },
    { name: 'fw2.bin', bytes: utf8.encode('two') },
  ];
  const next = release({ roots: [], keys, version: 2, files });
  const planted = join(dir, targetFilePath('fw2.bin', targetEntryOf('fw2.bin', utf8.encode('two')).sha256));
  await writeFile(planted, 'evil');
  await assert.rejects(publishRepository(dir, next), code('PAYLOAD_DIGEST_MISMATCH'));
  await writeFile(planted, 'two');
  // fw.bin is served already: carried over by its signed length and hash, its damaged file not a refusal
  // (devices refuse it on download); asked to, publish reads it and reports it.
  const carried = await publishRepository(dir, next, { checkCarried: true });
  assert.deepEqual(carried.carried, [relative(dir, served)]);
  assert.deepEqual(
    carried.damaged.map((d) => [d.name, d.problem]),
    [['fw.bin', `${served} does not match its signed length and SHA-256`]],
  );
  assert.equal(await readFile(served, 'utf8'), 'evil', 'a published file is never rewritten');
});

test('checking carried targets reads only the files that changed since they were published or last found sound', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('record');
  const files = (names: string[]) => names.map((name) => ({ name, bytes: utf8.encode(`${name} bytes`) }));
  const pathOf = (name: string) =>
    targetFilePath(name, targetEntryOf(name, utf8.encode(`${name} bytes`)).sha256);
  const publish = (version: number, names: string[]) =>
    publishRepository(
      dir,
      release({ roots: version === 1 ? [firstRoot(keys)] : [], keys, version, files: files(names) }),
      { checkCarried: true },
    );
  await publish(1, ['a.bin']);
  await publish(2, ['a.bin', 'b.bin']);
  // A third publication reads neither published image: their files are as they were written.
  const third = await publish(3, ['a.bin', 'b.bin', 'c.bin']);
  assert.deepEqual(third.carried.sort(), [pathOf('a.bin'), pathOf('b.bin')].sort());
  assert.deepEqual(third.hashed, [], 'no published image is read again');
  assert.deepEqual(third.damaged, []);
  // One is damaged in place, same size, its modification time put back: it is read, and named.
  const a = join(dir, pathOf('a.bin'));
  const before = await stat(a);
  await writeFile(a, 'a.bin bytez');
  await utimes(a, before.atime, before.mtime);
  const fourth = await publish(4, ['a.bin', 'b.bin', 'c.bin', 'd.bin']);
  assert.deepEqual(fourth.hashed, [pathOf('a.bin')]);
  assert.deepEqual(
    fourth.damaged.map((d) => d.name),
    ['a.bin'],
  );
  // Touched but sound (a copy put back): read once, found sound, and not read again after.
  await writeFile(a, 'a.bin bytes');
  const fifth = await publish(5, ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin']);
  assert.deepEqual([fifth.hashed, fifth.damaged], [[pathOf('a.bin')], []]);
  const sixth = await publish(6, ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin', 'f.bin']);
  assert.deepEqual(sixth.hashed, []);
});

test('publish refuses a root whose predecessor is not published, or one the old root did not sign', async () => {
  const dir = await tempDir();
  const keys = roleKeyPairs('chain');
  const root1 = firstRoot(keys);
  const files = [{ name: 'fw.bin', bytes: utf8.encode('fw') }];
  const keys2: RoleKeyPairs = { ...keys, root: [testKey('chain new root')] };
  const root2 = rotateRoot(root1, rolesOf(keys2), signers(keys.root), signers(keys2.root));
  await assert.rejects(
    publishRepository(dir, release({ roots: [root2], keys: keys2, version: 1, files })),
    code('USAGE'),
  );
  await publishRepository(dir, release({ roots: [root1], keys, version: 1, files }));
  const forged = signWith(makeRoot({ version: 2, roles: rolesOf(keys2) }), signers(keys2.root));
  await assert.rejects(
    publishRepository(dir, release({ roots: [forged], keys: keys2, version: 2, files })),
    code('SIGNATURE_THRESHOLD'),
  );
  await publishRepository(dir, release({ roots: [root2], keys: keys2, version: 2, files }));
  assert.equal(
    parseMetadata('root', await readFile(join(dir, metadataFilePath('root', 2)))).signed.version,
    2,
  );
  // Publishing again with root version 1 once version 2 is out would check against the wrong keys.
  await assert.rejects(
    publishRepository(dir, release({ roots: [root1], keys, version: 3, files })),
    code('USAGE'),
  );
});
