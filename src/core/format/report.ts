// A device's status report (docs/SERVER.md §Report format): a small canonical JSON body signed with the
// device's Ed25519 key under a domain-separation prefix, so the signature means nothing anywhere else.
// Wire form: "SIHR" | u16 version = 1 | u16 body length | body | 64-byte signature, nothing after.
import { keyIdOf, SIGNATURE_BYTES, verify } from '../crypto/sign.ts';
import { SihlError } from '../errors.ts';
import { ByteReader, ByteWriter, fromUtf8, toHex, utf8 } from './bytes.ts';
import { NAME_PATTERN } from './target.ts';

export interface StatusReport {
  /** Device id: hex SHA-256 of the device's Ed25519 public key (keyIdOf). */
  readonly device: string;
  /** Rises with every report of this device. */
  readonly seq: number;
  /** Unix seconds, the device's clock (informational). */
  readonly time: number;
  readonly model: string;
  /** Firmware version now running. */
  readonly running: string;
  readonly outcome: 'booted' | 'installed' | 'rejected' | 'reverted' | 'error';
  /** Error code when rejected/error (e.g. TUF_METADATA_EXPIRED, SIGNATURE_THRESHOLD). */
  readonly reason?: string;
  /** Installs begun for the image (above 1: a power cut repeated it). */
  readonly attempts?: number;
  /** The target name it concerns, e.g. "TechnicHub/TechnicHub-7.28.0.sihl". */
  readonly target?: string;
}

/** The whole signed report, framing and signature included. */
export const REPORT_MAX_BYTES = 4096;
export const REPORT_MAGIC = Uint8Array.of(0x53, 0x49, 0x48, 0x52); // "SIHR"
export const REPORT_VERSION = 1;
const FRAME_BYTES = 4 + 2 + 2;
export const REPORT_BODY_MAX_BYTES = REPORT_MAX_BYTES - FRAME_BYTES - SIGNATURE_BYTES;
const CONTEXT = utf8.encode('sihl/v1/report\0');

const OUTCOMES: ReadonlySet<string> = new Set(['booted', 'installed', 'rejected', 'reverted', 'error']);
const DEVICE = /^[0-9a-f]{64}$/;
const MODEL = NAME_PATTERN;
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/;
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;
const TARGET = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$/;
const ATTEMPTS_MAX = 1_000_000;
const FIELDS = ['device', 'seq', 'time', 'model', 'running', 'outcome', 'reason', 'attempts', 'target'];
const REQUIRED = new Set(['device', 'seq', 'time', 'model', 'running', 'outcome']);

function malformed(message: string): never {
  throw new SihlError('REPORT_MALFORMED', `status report: ${message}`);
}

/** Every bad field at once, so a device's bug shows whole. */
function problemsOf(r: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const text = (name: string, pattern: RegExp, optional = false) => {
    const value = r[name];
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || !pattern.test(value)) problems.push(`"${name}" is not valid`);
  };
  const count = (name: string, max: number, optional = false) => {
    const value = r[name];
    if (optional && value === undefined) return;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max)
      problems.push(`"${name}" must be a whole number from 0 to ${max}`);
  };
  for (const key of Object.keys(r)) if (!FIELDS.includes(key)) problems.push(`unknown field "${key}"`);
  for (const key of REQUIRED) if (!(key in r)) problems.push(`"${key}" is missing`);
  text('device', DEVICE);
  count('seq', Number.MAX_SAFE_INTEGER);
  count('time', Number.MAX_SAFE_INTEGER);
  text('model', MODEL);
  text('running', VERSION);
  if (typeof r.outcome !== 'string' || !OUTCOMES.has(r.outcome)) problems.push('"outcome" is not valid');
  text('reason', REASON, true);
  count('attempts', ATTEMPTS_MAX, true);
  text('target', TARGET, true);
  if (typeof r.target === 'string' && r.target.split('/').some((part) => part === '..' || part === '.'))
    problems.push('"target" has a dot segment');
  return problems;
}

/** The body: canonical JSON with the fields in a fixed order and optional ones left out when absent. */
export function encodeReport(report: StatusReport): Uint8Array {
  const problems = problemsOf(report as unknown as Record<string, unknown>);
  if (problems.length > 0) malformed(problems.join('; '));
  const ordered: Record<string, unknown> = {};
  for (const key of FIELDS) {
    const value = (report as unknown as Record<string, unknown>)[key];
    if (value !== undefined) ordered[key] = value;
  }
  const body = utf8.encode(JSON.stringify(ordered));
  if (body.length > REPORT_BODY_MAX_BYTES) malformed(`body of ${body.length} bytes is over the limit`);
  return body;
}

/** What the device signs: a context string, then the body. */
export function reportMessage(body: Uint8Array): Uint8Array {
  const message = new Uint8Array(CONTEXT.length + body.length);
  message.set(CONTEXT);
  message.set(body, CONTEXT.length);
  return message;
}

export function encodeSignedReport(body: Uint8Array, signature: Uint8Array): Uint8Array {
  if (body.length > REPORT_BODY_MAX_BYTES) malformed(`body of ${body.length} bytes is over the limit`);
  if (signature.length !== SIGNATURE_BYTES) malformed(`a signature is ${SIGNATURE_BYTES} bytes`);
  return new ByteWriter()
    .bytes(REPORT_MAGIC)
    .u16(REPORT_VERSION)
    .u16(body.length)
    .bytes(body)
    .bytes(signature)
    .finish();
}

function decodeBody(body: Uint8Array): StatusReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8.decode(body));
  } catch {
    malformed('body is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    malformed('body is not an object');
  const problems = problemsOf(parsed as Record<string, unknown>);
  if (problems.length > 0) malformed(problems.join('; '));
  const report = parsed as StatusReport;
  // One encoding per report: re-encoding must give the same bytes (no spaces, order, duplicates, escapes).
  const again = encodeReport(report);
  if (again.length !== body.length || !again.every((b, i) => b === body[i]))
    malformed('body is not canonical');
  return report;
}

/** Strict: bounded, exact framing, canonical body, no trailing bytes. Does not check the signature. */
export function decodeSignedReport(bytes: Uint8Array): {
  report: StatusReport;
  body: Uint8Array;
  signature: Uint8Array;
} {
  if (bytes.length > REPORT_MAX_BYTES)
    malformed(`${bytes.length} bytes is over the ${REPORT_MAX_BYTES}-byte limit`);
  const r = new ByteReader(bytes, 'REPORT_MALFORMED', 'status report');
  if (!r.bytes(4).every((b, i) => b === REPORT_MAGIC[i])) r.fail('not a sihl status report (bad magic)');
  if (r.u16() !== REPORT_VERSION) r.fail('unsupported report version');
  const length = r.u16();
  if (length > REPORT_BODY_MAX_BYTES) r.fail('body length is over the limit');
  const body = r.bytes(length).slice();
  const signature = r.bytes(SIGNATURE_BYTES).slice();
  r.end();
  return { report: decodeBody(body), body, signature };
}

/**
 * The report, if `publicKey` signed it and it names that key's device; otherwise SIGNATURE_INVALID or
 * SIGNATURE_UNKNOWN_KEY. A device cannot file reports under another device's id.
 */
export function verifySignedReport(bytes: Uint8Array, publicKey: Uint8Array): StatusReport {
  const { report, body, signature } = decodeSignedReport(bytes);
  if (!verify(publicKey, reportMessage(body), signature)) {
    throw new SihlError('SIGNATURE_INVALID', 'the status report signature does not verify');
  }
  if (report.device !== toHex(keyIdOf(publicKey))) {
    throw new SihlError('SIGNATURE_UNKNOWN_KEY', 'the status report names another device than its signer');
  }
  return report;
}
