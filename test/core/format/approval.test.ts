// Approval requests and approval files (docs/FORMAT.md §Approvals) parsed once into checked types:
// round trips, and hostile files refused with an error naming the field: oversized, not JSON, another
// kind of file, a summary that differs from the manifest, a key id of another key, a note with controls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asSigner, sha256 } from '../../../src/core/crypto/index.ts';
import {
  type ApprovalRequest,
  approvalStatement,
  decodeApproval,
  decodeApprovalRequest,
  encodeApproval,
  encodeApprovalRequest,
} from '../../../src/core/format/approval.ts';
import { utf8 } from '../../../src/core/format/bytes.ts';
import { decodeManifest, encodeManifest, type Manifest } from '../../../src/core/format/manifest.ts';
import { LIMITS } from '../../../src/core/limits.ts';
import { testKey } from '../../helpers.ts';
import { refuses } from '../../support/refuses.ts';
import { tenByteManifest } from './support.ts';

const manifest: Manifest = tenByteManifest('movehub', '7.28.0', 3);
const manifestBytes = encodeManifest(manifest);
const request: ApprovalRequest = {
  release: 'movehub-7.28.0',
  manifestBytes,
  manifest: decodeManifest(manifestBytes),
  delegationVersion: 1,
  delegationSha256: sha256(utf8.encode('delegation')),
  imageSha256: sha256(utf8.encode('image')),
  imageSize: 1234,
  requested: '2026-12-03T09:00:00.000Z',
};
const requestText = encodeApprovalRequest(request);
const edited = (text: string, change: Record<string, unknown>) =>
  utf8.encode(JSON.stringify({ ...JSON.parse(text), ...change }));

function approvalText(note = 'reviewed') {
  const signer = asSigner(testKey('alice'));
  const digest = sha256(utf8.encode(requestText));
  const approved = '2026-12-03T10:00:00.000Z';
  return encodeApproval({
    request: digest,
    release: request.release,
    model: manifest.model,
    firmwareVersion: manifest.version,
    securityVersion: manifest.securityVersion,
    payloadDigest: manifest.payloadDigest,
    publicKey: signer.publicKey,
    keyId: signer.keyId,
    signature: signer.sign(utf8.encode('image message')),
    statement: signer.sign(approvalStatement(digest, manifestBytes, approved, note)),
    note,
    approved,
  });
}

test('a request and an approval decode to what was encoded', () => {
  assert.deepEqual(decodeApprovalRequest(utf8.encode(requestText)), request);
  const text = approvalText('line one\nline two');
  assert.equal(encodeApproval(decodeApproval(utf8.encode(text))), text);
});

test('a request whose summary differs from its manifest is refused, naming the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ firmwareVersion: '7.29.0' }, /says firmwareVersion 7\.29\.0, but the manifest .* says 7\.28\.0/],
    [{ securityVersion: 9 }, /says securityVersion 9/],
    [{ downgrade: true }, /says downgrade true/],
    [{ encrypted: true }, /says encrypted true/],
    [{ payloadDigest: '00'.repeat(32) }, /says payloadDigest 0{64}/],
    [{ payloadSize: 11 }, /says payloadSize 11/],
  ];
  for (const [change, message] of cases) {
    refuses(() => decodeApprovalRequest(edited(requestText, change)), 'APPROVAL_MALFORMED', message);
  }
});

test('a request naming another release than its manifest is refused: approve prints the name beside what it signs', () => {
  for (const release of ['movehub-8.0.0', 'technichub-7.28.0', 'movehub-7.28.0-hotfix']) {
    refuses(
      () => decodeApprovalRequest(edited(requestText, { release })),
      'APPROVAL_MALFORMED',
      new RegExp(
        `says release ${release.replace(/\./g, '\\.')}, but the manifest it asks to sign is movehub 7\\.28\\.0`,
      ),
    );
  }
});

test('hostile request and approval files are refused before anything is trusted', () => {
  refuses(
    () => decodeApprovalRequest(new Uint8Array(LIMITS.approvalRequestBytes + 1)),
    'LIMIT_EXCEEDED',
    /approval-request is \d+ bytes; the limit is 16384/,
  );
  refuses(() => decodeApprovalRequest(utf8.encode('{"sihl":')), 'APPROVAL_MALFORMED', /is not JSON/);
  refuses(() => decodeApprovalRequest(utf8.encode('[]')), 'APPROVAL_MALFORMED', /not a JSON object/);
  refuses(
    () => decodeApprovalRequest(utf8.encode(approvalText())),
    'APPROVAL_MALFORMED',
    /expected a sihl approval-request file, found a sihl approval file/,
  );
  refuses(() => decodeApprovalRequest(edited(requestText, { version: 2 })), 'APPROVAL_MALFORMED', /version/);
  refuses(
    () => decodeApprovalRequest(edited(requestText, { manifest: 'AAAA' })),
    'MANIFEST_MALFORMED',
    /manifest/,
  );
  refuses(
    () => decodeApprovalRequest(edited(requestText, { requested: 'yesterday' })),
    'APPROVAL_MALFORMED',
    /field requested/,
  );
  const approval = approvalText();
  refuses(
    () => decodeApproval(edited(approval, { keyId: 'ab'.repeat(32) })),
    'APPROVAL_MALFORMED',
    /keyId is not the id of its publicKey/,
  );
  refuses(
    () => decodeApproval(edited(approval, { note: 'ok\u001b[2Jgone' })),
    'APPROVAL_MALFORMED',
    /note: .*control characters/,
  );
  refuses(
    () => decodeApproval(edited(approval, { note: 'x'.repeat(LIMITS.approvalNoteBytes + 1) })),
    'APPROVAL_MALFORMED',
    /field note/,
  );
  refuses(
    () => decodeApproval(edited(approval, { signature: 'AAAA' })),
    'APPROVAL_MALFORMED',
    /field signature must be 64 bytes/,
  );
  refuses(() => decodeApproval(new Uint8Array(LIMITS.approvalBytes + 1)), 'LIMIT_EXCEEDED', /approval is/);
});
