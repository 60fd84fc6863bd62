import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyIdOf, type SigningKeyPair, sign } from '../../src/core/crypto/index.ts';
import type { SignatureEntry } from '../../src/core/format/signatures.ts';
import { bufferSource, imageMessage, packImage, readImage } from '../../src/core/image/index.ts';
import {
  approvalStatus,
  checkRelease,
  compareSemver,
  parseSemver,
  type ReleaseFacts,
} from '../../src/publisher/policy.ts';
import { scanSecrets } from '../../src/publisher/secret-scan.ts';
import { makeTrust, pybricksCorpus, tempDir, testKey, writeTemp } from '../helpers.ts';

const movehub = (await pybricksCorpus()).get('movehub') as Uint8Array;

/** A release that passes every rule; each test changes what it needs. */
function facts(
  change: Partial<ReleaseFacts> = {},
  manifest: Partial<ReleaseFacts['manifest']> = {},
): ReleaseFacts {
  return {
    manifest: {
      model: 'movehub',
      version: '1.4.0',
      securityVersion: 3,
      plaintextSize: movehub.length,
      compression: { algorithm: 'brotli', windowLog: 16, filter: 'none', compressedSize: 60_000 },
      ...manifest,
    },
    imageSize: 80_000,
    channel: 'stable',
    registeredModels: ['cityhub', 'movehub'],
    newestPublished: { version: '1.3.2', securityVersion: 3 },
    slotSize: 128 * 1024,
    signatures: { valid: 2, threshold: 2, problems: [] },
    secrets: [],
    image: { problems: [] },
    vendorChecks: [{ name: 'sbom', ok: true, status: 'exit code 0', log: 'checks/sbom.log', tail: '' }],
    ...change,
  };
}

const rules = (result: ReturnType<typeof checkRelease>) => result.failures.map((f) => f.rule);

test('a release that keeps every rule passes', () => {
  assert.deepEqual(checkRelease(facts()), { ok: true, failures: [], notChecked: [] });
  assert.equal(
    checkRelease(facts({ newestPublished: undefined, slotSize: undefined })).ok,
    true,
    'a first release',
  );
});

test('version-rises: a version not above the newest published on the channel fails', () => {
  for (const [version, words] of [
    ['1.3.1', 'is below 1.3.2'],
    ['1.3.2', 'same precedence'],
    ['1.3.2+build.7', 'same precedence'],
    ['1.4.0-rc.1', undefined],
    ['1.3.2-rc.1', 'is below'],
  ] as const) {
    const result = checkRelease(facts({}, { version }));
    if (words === undefined) {
      assert.equal(result.ok, true, version);
      continue;
    }
    assert.deepEqual(rules(result), ['version-rises'], version);
    assert.ok(result.failures[0]?.message.includes(words), result.failures[0]?.message);
    assert.match(result.failures[0]?.message ?? '', /model "movehub" on channel "stable"/);
  }
});

test('version-rises: a version that is not semver fails with a clear message, published or not', () => {
  for (const newestPublished of [undefined, { version: '1.3.2', securityVersion: 3 }]) {
    const result = checkRelease(facts({ newestPublished }, { version: 'v1.4' }));
    assert.deepEqual(result.failures, [
      {
        rule: 'version-rises',
        message: 'version "v1.4" is not a semantic version (MAJOR.MINOR.PATCH, such as 1.4.0 or 2.0.0-rc.1)',
      },
    ]);
  }
  const legacy = checkRelease(facts({ newestPublished: { version: '2024-05', securityVersion: 3 } }));
  assert.match(legacy.failures[0]?.message ?? '', /"2024-05".*not a semantic version/);
});

test('semver precedence follows semver.org §11, numbers of any length included', () => {
  const order = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.2.0',
    '1.10.0',
    '2.0.0',
    '99999999999999999999.0.0',
    '100000000000000000000.0.0',
  ];
  const parsed = order.map((v) => parseSemver(v) ?? assert.fail(v));
  for (let i = 0; i + 1 < parsed.length; i++) {
    assert.ok(compareSemver(parsed[i] as never, parsed[i + 1] as never) < 0, `${order[i]} < ${order[i + 1]}`);
    assert.ok(compareSemver(parsed[i + 1] as never, parsed[i] as never) > 0);
  }
  for (const bad of ['1.2', '01.2.3', '1.2.3-01', 'v1.2.3', '1.2.3-', '1.2.3+', ' 1.2.3']) {
    assert.equal(parseSemver(bad), undefined, bad);
  }
});

test('security-version: a security version below the newest published fails', () => {
  const result = checkRelease(facts({}, { securityVersion: 2 }));
  assert.deepEqual(rules(result), ['security-version']);
  assert.match(result.failures[0]?.message ?? '', /security version 2 is below 3 of 1\.3\.2/);
  assert.equal(checkRelease(facts({}, { securityVersion: 4 })).ok, true, 'raising it is fine');
});

test('model-registered: a model that is not registered fails', () => {
  const result = checkRelease(facts({}, { model: 'technichub' }));
  assert.deepEqual(rules(result), ['model-registered']);
  assert.equal(
    result.failures[0]?.message,
    'model "technichub" is not a registered device model (registered: cityhub, movehub)',
  );
});

test('fits-slot: firmware larger than the executable slot fails', () => {
  const result = checkRelease(facts({ slotSize: 100_000 }));
  assert.deepEqual(rules(result), ['fits-slot']);
  assert.match(
    result.failures[0]?.message ?? '',
    /firmware is 102432 bytes; .* holds 100000 \(2432 bytes too many\)/,
  );
  assert.equal(checkRelease(facts({ slotSize: movehub.length })).ok, true, 'an exact fit is fine');
  const huge = checkRelease(facts({ slotSize: 1024 * 1024 }, { plaintextSize: 2 * 1024 ** 3 }));
  assert.deepEqual(rules(huge), ['fits-slot'], 'a 2 GiB firmware');
});

test('fits-slot: without a slot size it is "not checked", never passed', () => {
  const result = checkRelease(facts({ slotSize: undefined }, { plaintextSize: 2 * 1024 ** 3 }));
  assert.equal(result.ok, true);
  assert.deepEqual(result.notChecked, [
    { rule: 'fits-slot', why: 'no slot size is known for model "movehub" (sihl.json models)' },
  ]);
});

test('device-decodes: a Brotli image for a model whose bootloader decodes only LZMA2 fails', () => {
  const brotli = checkRelease(facts({ codec: 'lzma2' }));
  assert.deepEqual(rules(brotli), ['device-decodes']);
  assert.match(
    brotli.failures[0]?.message ?? '',
    /models\.movehub\.codec is "lzma2".*COMPRESSION_UNSUPPORTED/,
  );
  const lzma2 = {
    compression: { algorithm: 'lzma2', windowLog: 16, filter: 'thumb', compressedSize: 58_000 },
  } as const;
  assert.equal(checkRelease(facts({ codec: 'lzma2' }, lzma2)).ok, true, 'an LZMA2 image passes');
  assert.equal(checkRelease(facts({ codec: 'brotli' })).ok, true, 'a Brotli model takes Brotli');
});

test('image-verifies and vendor-checks: a problem fails, a missing check is "not checked"', () => {
  const bad = checkRelease(
    facts({
      image: { problems: ['payload digest [PAYLOAD_DIGEST_MISMATCH]'] },
      vendorChecks: [
        { name: 'lint', ok: false, status: 'exit code 3', log: 'checks/lint.log', tail: 'a\n3 errors' },
      ],
    }),
  );
  assert.deepEqual(rules(bad), ['image-verifies', 'vendor-checks']);
  assert.match(
    bad.failures[1]?.message ?? '',
    /check "lint" failed \(exit code 3; output in checks\/lint\.log\): 3 errors/,
  );
  const unknown = checkRelease(facts({ image: undefined, vendorChecks: undefined }));
  assert.deepEqual(
    unknown.notChecked.map((n) => n.rule),
    ['image-verifies', 'vendor-checks'],
  );
});

test('signatures: too few valid signatures, a bad entry or a zero threshold fails', () => {
  for (const signatures of [
    { valid: 1, threshold: 2, problems: [] },
    { valid: 2, threshold: 2, problems: ['signature by key 0011223344556677… does not verify'] },
    { valid: 0, threshold: 0, problems: [] },
  ]) {
    const result = checkRelease(facts({ signatures }));
    assert.deepEqual(rules(result), ['signatures'], JSON.stringify(signatures));
  }
  const short = checkRelease(facts({ signatures: { valid: 1, threshold: 2, problems: [] } }));
  assert.match(
    short.failures[0]?.message ?? '',
    /1 valid signature\(s\) by distinct current approvers; 2 required/,
  );
});

test('no-secrets: every finding is listed by kind and offset, redacted', () => {
  const firmware = new Uint8Array(movehub);
  firmware.set(
    Buffer.from(`\0AKIAIOSFODNN7EXAMPLE\0${'-'.repeat(5)}BEGIN EC PRIVATE KEY${'-'.repeat(5)}\n`, 'latin1'),
    5000,
  );
  const secrets = scanSecrets(firmware).findings;
  const result = checkRelease(facts({ secrets }));
  assert.deepEqual(rules(result), ['no-secrets']);
  assert.equal(
    result.failures[0]?.message,
    'the firmware contains 2 secret(s): aws-access-key-id at offset 5001 (0x1389) "AKIA…"; ' +
      'pem-private-key at offset 5022 (0x139e) "----…"',
  );
  const leaky = checkRelease(
    facts({ secrets: [{ kind: 'github-token', offset: 1, excerpt: 'ghp_abcdefgh' }] }),
  );
  assert.ok(!leaky.failures[0]?.message.includes('abcdefgh'), 'an unredacted excerpt is redacted again');
});

test('all failures are listed at once: a release that breaks four rules lists four', () => {
  const result = checkRelease(
    facts(
      {
        registeredModels: ['cityhub'],
        signatures: { valid: 1, threshold: 2, problems: [] },
        secrets: [{ kind: 'aws-access-key-id', offset: 10, excerpt: 'AKIA…' }],
      },
      { version: '1.0.0' },
    ),
  );
  assert.equal(result.ok, false);
  assert.deepEqual(rules(result), ['version-rises', 'model-registered', 'signatures', 'no-secrets']);
});

test('approvalStatus counts distinct current approvers whose signatures verify, and names the rest', async () => {
  const trust = makeTrust(); // approvers alice, bob, carol; threshold 2
  const [alice, bob, carol] = trust.approvers as [SigningKeyPair, SigningKeyPair, SigningKeyPair];
  const dir = await tempDir();
  const input = await writeTemp(dir, 'fw.bin', movehub);
  const output = join(dir, 'fw.sihl');
  await packImage(input, output, {
    model: 'movehub',
    version: '1.4.0',
    delegation: trust.delegation,
    signers: [alice, bob],
    encrypt: false,
    quality: 5,
  });
  const image = await readImage(bufferSource(new Uint8Array(await readFile(output))));
  const current = trust.approvers.map((a) => a.publicKey);
  assert.deepEqual(approvalStatus(image, current, 2), { valid: 2, threshold: 2, problems: [] });

  // Bob is no longer an approver: his signature does not count.
  const withoutBob = approvalStatus(image, [alice.publicKey, carol.publicKey], 2);
  assert.equal(withoutBob.valid, 1);
  assert.match(withoutBob.problems.join(), /which is not a current approver/);
  assert.deepEqual(rules(checkRelease(facts({ signatures: withoutBob }))), ['signatures']);

  const message = imageMessage(image.manifestBytes);
  const [first, second] = image.signatures as [SignatureEntry, SignatureEntry];
  const forged = { ...image, signatures: [first, { ...second, signature: new Uint8Array(64).fill(1) }] };
  assert.deepEqual(approvalStatus(forged, current, 2).valid, 1);
  assert.match(approvalStatus(forged, current, 2).problems.join(), /does not verify/);

  const twice = { ...image, signatures: [first, first] };
  const duplicate = approvalStatus(twice, current, 2);
  assert.equal(duplicate.valid, 1, 'one approver counts once');
  assert.match(duplicate.problems.join(), /second signature by key/);

  const reversed = approvalStatus({ ...image, signatures: [second, first] }, current, 2);
  assert.equal(reversed.valid, 2);
  assert.match(reversed.problems.join(), /out of key id order/);

  // Dave became an approver after the image was packed: devices check the image's own delegation.
  const dave = testKey('dave');
  const daveEntry = { keyId: keyIdOf(dave.publicKey), signature: sign(dave.secretKey, message) };
  const signed = {
    ...image,
    signatures: [...image.signatures, daveEntry].sort((a, b) => Buffer.compare(a.keyId, b.keyId)),
  };
  const late = approvalStatus(signed, [...current, dave.publicKey], 3);
  assert.equal(late.valid, 3);
  assert.match(late.problems.join(), /not in the image's delegation \(version 1\); devices would refuse/);

  const broken = { ...image, signatures: [{ keyId: new Uint8Array(3), signature: new Uint8Array(0) }] };
  assert.doesNotThrow(() => approvalStatus(broken, [new Uint8Array(5)], 1), 'malformed entries are problems');
});
