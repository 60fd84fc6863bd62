// Approval requests and approval files (docs/FORMAT.md §Approvals): what a release manager hands an
// approver, and what the approver hands back, signed on their own machine or token. Both are small JSON
// files, parsed once into checked types: every field present with its type, sizes bounded, and every
// summary field of a request equal to what its manifest says, so the approver reads what they sign.
import { DIGEST_BYTES, sha256 } from '../crypto/hash.ts';
import { checkSigningPublicKey, KEY_ID_BYTES, keyIdOf, SIGNATURE_BYTES } from '../crypto/sign.ts';
import { SihlError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { ByteWriter, fromHex, fromUtf8, toHex, utf8 } from './bytes.ts';
import { decodeManifest, type Manifest } from './manifest.ts';

/** What an approver is asked to sign: one image's manifest and the facts a person checks before signing. */
export interface ApprovalRequest {
  readonly release: string;
  readonly manifestBytes: Uint8Array;
  readonly manifest: Manifest;
  readonly delegationVersion: number;
  /** SHA-256 of the image's delegation (FORMAT.md §Delegation), which the approver's key must be in. */
  readonly delegationSha256: Uint8Array;
  /** SHA-256 and size of the image file as it was when the request was made. */
  readonly imageSha256: Uint8Array;
  readonly imageSize: number;
  /** When the request was made (ISO 8601, UTC). */
  readonly requested: string;
}

/** One approver's signed approval of a request. */
export interface Approval {
  /** SHA-256 of the request file's bytes, as the approver received them. */
  readonly request: Uint8Array;
  readonly release: string;
  readonly model: string;
  readonly firmwareVersion: string;
  readonly securityVersion: number;
  readonly payloadDigest: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
  /** The image signature (FORMAT.md §What approvers sign). */
  readonly signature: Uint8Array;
  /** The approver's signature of the approval statement (FORMAT.md §Approvals). */
  readonly statement: Uint8Array;
  readonly note: string;
  readonly approved: string;
}

const STATEMENT_CONTEXT = utf8.encode('sihl/v1/approval\0');
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,160}$/;

/** The bytes an approver signs besides the image: which request, which manifest, when, and their note. */
export function approvalStatement(
  requestDigest: Uint8Array,
  manifestBytes: Uint8Array,
  approved: string,
  note: string,
): Uint8Array {
  const time = utf8.encode(approved);
  const text = utf8.encode(note);
  return new ByteWriter()
    .bytes(STATEMENT_CONTEXT)
    .bytes(requestDigest)
    .bytes(sha256(manifestBytes))
    .u16(time.length)
    .bytes(time)
    .u16(text.length)
    .bytes(text)
    .finish();
}

/** A note as an approval carries it: at most LIMITS.approvalNoteBytes of UTF-8, no control characters but newlines. */
export function checkNote(note: string): string {
  if (utf8.encode(note).length > LIMITS.approvalNoteBytes) {
    throw new SihlError('USAGE', `the note is longer than ${LIMITS.approvalNoteBytes} bytes`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(note)) {
    throw new SihlError('USAGE', 'the note has control characters (only newlines are allowed)');
  }
  return note;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

export function encodeApprovalRequest(request: ApprovalRequest): string {
  const m = request.manifest;
  const file = {
    sihl: 'approval-request',
    version: 1,
    release: request.release,
    model: m.model,
    firmwareVersion: m.version,
    securityVersion: m.securityVersion,
    downgrade: m.downgrade === true,
    encrypted: m.encryption.algorithm !== 'none',
    plaintextSize: m.plaintextSize,
    plaintextDigest: toHex(m.plaintextDigest),
    payloadSize: m.payloadSize,
    payloadDigest: toHex(m.payloadDigest),
    delegationVersion: request.delegationVersion,
    delegationSha256: toHex(request.delegationSha256),
    imageSha256: toHex(request.imageSha256),
    imageSize: request.imageSize,
    requested: request.requested,
    manifest: b64(request.manifestBytes),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

export function encodeApproval(approval: Approval): string {
  const file = {
    sihl: 'approval',
    version: 1,
    request: toHex(approval.request),
    release: approval.release,
    model: approval.model,
    firmwareVersion: approval.firmwareVersion,
    securityVersion: approval.securityVersion,
    payloadDigest: toHex(approval.payloadDigest),
    publicKey: b64(approval.publicKey),
    keyId: toHex(approval.keyId),
    signature: b64(approval.signature),
    statement: b64(approval.statement),
    note: approval.note,
    approved: approval.approved,
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Reads the fields of one JSON file; every failure is APPROVAL_MALFORMED naming the field. */
class Fields {
  readonly #record: Record<string, unknown>;
  readonly #what: string;

  constructor(bytes: Uint8Array, what: string, limit: number) {
    this.#what = what;
    if (bytes.length > limit) {
      throw new SihlError('LIMIT_EXCEEDED', `${what} is ${bytes.length} bytes; the limit is ${limit}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(fromUtf8.decode(bytes));
    } catch {
      this.fail('is not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail('is not a JSON object');
    this.#record = value as Record<string, unknown>;
    const kind = this.#record.sihl;
    if (kind !== what) {
      const found = typeof kind === 'string' ? `a sihl ${kind} file` : 'not a sihl file';
      throw new SihlError('APPROVAL_MALFORMED', `expected a sihl ${what} file, found ${found}`);
    }
    if (this.#record.version !== 1) this.fail('has an unsupported version');
  }

  fail(message: string): never {
    throw new SihlError('APPROVAL_MALFORMED', `${this.#what} ${message}`);
  }

  string(name: string, pattern: RegExp, maxBytes = 256): string {
    const value = this.#record[name];
    if (typeof value !== 'string' || utf8.encode(value).length > maxBytes || !pattern.test(value)) {
      this.fail(`field ${name} is missing or not in the expected form`);
    }
    return value;
  }

  integer(name: string, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.#record[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      this.fail(`field ${name} must be a whole number from 0 to ${max}`);
    }
    return value;
  }

  boolean(name: string): boolean {
    const value = this.#record[name];
    if (typeof value !== 'boolean') this.fail(`field ${name} must be true or false`);
    return value;
  }

  hex(name: string, length: number): Uint8Array {
    return fromHex(this.string(name, new RegExp(`^[0-9a-f]{${length * 2}}$`)));
  }

  base64(name: string, length: number, maxBytes = 256): Uint8Array {
    const text = this.string(name, /^[A-Za-z0-9+/]*={0,2}$/, maxBytes);
    const bytes = new Uint8Array(Buffer.from(text, 'base64'));
    if (b64(bytes) !== text || (length > 0 && bytes.length !== length)) {
      this.fail(`field ${name} must be ${length > 0 ? `${length} bytes in ` : ''}canonical base64`);
    }
    return bytes;
  }

  time(name: string): string {
    const value = this.string(name, ISO_TIME, 32);
    if (Number.isNaN(Date.parse(value))) this.fail(`field ${name} is not a time`);
    return value;
  }
}

/** A request file's bytes, checked: its summary must be exactly what its manifest says. */
export function decodeApprovalRequest(bytes: Uint8Array): ApprovalRequest {
  const f = new Fields(bytes, 'approval-request', LIMITS.approvalRequestBytes);
  const manifestBytes = f.base64('manifest', 0, LIMITS.approvalRequestBytes);
  const manifest = decodeManifest(manifestBytes);
  const summary: [string, unknown, unknown][] = [
    ['model', f.string('model', /^.+$/), manifest.model],
    ['firmwareVersion', f.string('firmwareVersion', /^.+$/), manifest.version],
    ['securityVersion', f.integer('securityVersion', 0xffffffff), manifest.securityVersion],
    ['downgrade', f.boolean('downgrade'), manifest.downgrade === true],
    ['encrypted', f.boolean('encrypted'), manifest.encryption.algorithm !== 'none'],
    ['plaintextSize', f.integer('plaintextSize'), manifest.plaintextSize],
    ['plaintextDigest', toHex(f.hex('plaintextDigest', DIGEST_BYTES)), toHex(manifest.plaintextDigest)],
    ['payloadSize', f.integer('payloadSize'), manifest.payloadSize],
    ['payloadDigest', toHex(f.hex('payloadDigest', DIGEST_BYTES)), toHex(manifest.payloadDigest)],
  ];
  for (const [name, stated, signed] of summary) {
    if (stated !== signed) {
      f.fail(`says ${name} ${String(stated)}, but the manifest it asks to sign says ${String(signed)}`);
    }
  }
  // The name approve prints beside what it signs: it too must be what the manifest says.
  const release = f.string('release', RELEASE_NAME);
  if (release !== `${manifest.model}-${manifest.version}`) {
    f.fail(
      `says release ${release}, but the manifest it asks to sign is ${manifest.model} ${manifest.version}`,
    );
  }
  return {
    release,
    manifestBytes,
    manifest,
    delegationVersion: f.integer('delegationVersion', 0xffffffff),
    delegationSha256: f.hex('delegationSha256', DIGEST_BYTES),
    imageSha256: f.hex('imageSha256', DIGEST_BYTES),
    imageSize: f.integer('imageSize'),
    requested: f.time('requested'),
  };
}

/** An approval file's bytes, checked in form (the signatures are checked where the manifest is known). */
export function decodeApproval(bytes: Uint8Array): Approval {
  const f = new Fields(bytes, 'approval', LIMITS.approvalBytes);
  const publicKey = f.base64('publicKey', 32);
  try {
    checkSigningPublicKey(publicKey);
  } catch {
    f.fail('field publicKey is not a valid Ed25519 public key');
  }
  const keyId = f.hex('keyId', KEY_ID_BYTES);
  if (toHex(keyId) !== toHex(keyIdOf(publicKey))) f.fail('field keyId is not the id of its publicKey');
  const note = f.string('note', /^/su, LIMITS.approvalNoteBytes);
  try {
    checkNote(note);
  } catch (error) {
    f.fail(`field note: ${(error as Error).message}`);
  }
  return {
    request: f.hex('request', DIGEST_BYTES),
    release: f.string('release', RELEASE_NAME),
    model: f.string('model', /^.+$/),
    firmwareVersion: f.string('firmwareVersion', /^.+$/),
    securityVersion: f.integer('securityVersion', 0xffffffff),
    payloadDigest: f.hex('payloadDigest', DIGEST_BYTES),
    publicKey,
    keyId,
    signature: f.base64('signature', SIGNATURE_BYTES),
    statement: f.base64('statement', SIGNATURE_BYTES),
    note,
    approved: f.time('approved'),
  };
}
