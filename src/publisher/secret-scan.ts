// Finds private keys, cloud credentials and passwords left in firmware before it is released (the policy
// gate's `no-secrets` rule). Firmware is binary, so its bytes are read as latin1 (one character per
// byte, offsets stay byte offsets) and scanned a window at a time: memory stays bounded whatever the size.
//
// Findings never carry a secret: an excerpt is at most its first four characters and '…'.

/** Bytes scanned at a time; a window also keeps the tail of the one before (see `SecretScanner`). */
export const SCAN_WINDOW_BYTES = 1024 * 1024;
/** Findings kept per scan; more are counted in `omitted`, so hostile input cannot exhaust memory. */
export const MAX_FINDINGS = 1000;
/** The longest text any rule matches (keyword, gap and value): windows overlap by this much. */
const MAX_MATCH_BYTES = 320;
/** Bytes kept before the first unscanned position, so look-behinds see what precedes a match. */
const LOOK_BEHIND_BYTES = 8;

/**
 * High-entropy rule: a value of at least VALUE_MIN characters of the base64/base64url/hex alphabet that
 * starts at most KEYWORD_GAP bytes after a keyword. Only the first VALUE_MAX characters are measured.
 */
const KEYWORD = /passw(?:or)?d|secret|token|api_?key/gi;
const KEYWORD_GAP = 32;
const VALUE_MIN = 20;
const VALUE_MAX = 256;
/**
 * Entropy thresholds, as a share of the most a value's length and alphabet allow: log2(min(length, 64))
 * bits per character for base64, log2(min(length, 16)) for hex. Measured over 10^5 random values each,
 * random base64 averages 0.86 to 0.94 of its ceiling and fails isHighEntropy about twice in 10^4 at 20
 * characters and never from 32 on; 20 random hex digits average 0.84 and fail three times in 10^3, 32 or
 * more never. Repeated patterns such as "deadbeefdeadbeef…" (0.54) fall well below. Identifiers are kept
 * out by the letter-case test in isHighEntropy: no finding at all in the 126 MB Node 24 binary.
 */
export const ENTROPY_RATIO = 0.75;
export const HEX_ENTROPY_RATIO = 0.7;

export type SecretKind =
  | 'pem-private-key'
  | 'openssh-private-key'
  | 'aws-access-key-id'
  | 'aws-secret-access-key'
  | 'azure-storage-key'
  | 'google-api-key'
  | 'github-token'
  | 'sihl-private-key'
  | 'high-entropy-secret';

export interface Finding {
  readonly kind: SecretKind;
  /** Byte offset in the firmware of the secret (or of the marker that starts it, for key files). */
  readonly offset: number;
  /** At most the first four characters and '…': enough to find it, never enough to use it. */
  readonly excerpt: string;
}

export interface ScanResult {
  /** In order of offset. */
  readonly findings: readonly Finding[];
  /** Findings beyond MAX_FINDINGS, counted but not kept. */
  readonly omitted: number;
  readonly scannedBytes: number;
}

interface Rule {
  readonly kind: SecretKind;
  /** Global regular expression; no match is longer than MAX_MATCH_BYTES. */
  readonly pattern: RegExp;
  /** Where the secret starts within the match (for rules that match a label before it). */
  readonly secretAt?: (match: RegExpExecArray) => number;
}

const endMinus = (length: number) => (m: RegExpExecArray) => m.index + m[0].length - length;

const RULES: readonly Rule[] = [
  { kind: 'openssh-private-key', pattern: /-----BEGIN OPENSSH PRIVATE[ ]KEY-----|openssh-key-v1\0/g },
  // PKCS#1 (RSA, EC, DSA), PKCS#8 (plain and ENCRYPTED) and other tools' labels; OPENSSH is above.
  { kind: 'pem-private-key', pattern: /-----BEGIN (?!OPENSSH )(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----/g },
  { kind: 'aws-access-key-id', pattern: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  {
    kind: 'aws-secret-access-key',
    pattern: /aws_secret_access_key[^A-Za-z0-9/+]{1,32}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi,
    secretAt: endMinus(40),
  },
  {
    kind: 'azure-storage-key',
    pattern: /AccountKey=[A-Za-z0-9+/]{86}[A-Za-z0-9+/=]{2}(?![A-Za-z0-9+/=])/g,
    secretAt: (m) => m.index + 'AccountKey='.length,
  },
  { kind: 'google-api-key', pattern: /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g },
  {
    kind: 'github-token',
    pattern:
      /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{50,100})(?![A-Za-z0-9_])/g,
  },
  { kind: 'sihl-private-key', pattern: /"sihl"\s{0,8}:\s{0,8}"private-key"/g },
];

/** Characters of base64, base64url and hex; '=' padding ends a value (it often separates key and value). */
const VALUE_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-')
  VALUE_CHAR[c.charCodeAt(0)] = 1;
/** What may stand between a label and its value: printable characters outside the value alphabet. */
const SEPARATOR = new Uint8Array(256);
for (let c = 0x20; c < 0x7f; c++) SEPARATOR[c] = VALUE_CHAR[c] === 1 ? 0 : 1;
for (const c of '\t\r\n') SEPARATOR[c.charCodeAt(0)] = 1;

/** Shannon entropy of a string in bits per character. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * Whether a value looks random rather than like a word or identifier: at least VALUE_MIN characters with
 * a letter, entropy of at least the threshold for its alphabet, and either a digit, '+' or '/' or, in a
 * value of letters alone, both cases mixed as in random text (a camelCase or UPPER_CASE name is not).
 */
export function isHighEntropy(value: string): boolean {
  if (value.length < VALUE_MIN || !/[A-Za-z]/.test(value)) return false;
  const hex = /^[0-9A-Fa-f]*$/.test(value);
  const ratio = hex ? HEX_ENTROPY_RATIO : ENTROPY_RATIO;
  if (shannonEntropy(value) < ratio * Math.log2(Math.min(value.length, hex ? 16 : 64))) return false;
  if (/[0-9+/]/.test(value)) return true;
  const letters = value.replace(/[^A-Za-z]/g, '').length;
  const upper = value.replace(/[^A-Z]/g, '').length;
  return upper >= letters / 4 && upper <= (letters * 3) / 4;
}

/** The first four characters (non-printable ones shown as '.') and '…'. */
export function redact(text: string): string {
  return `${text.slice(0, 4).replace(/[^\x20-\x7e]/g, '.')}…`;
}

/**
 * A streaming scanner: `push` firmware bytes in pieces of any size, then `finish`. Each window is the
 * new bytes plus the last MAX_MATCH_BYTES + LOOK_BEHIND_BYTES of the bytes before, and a window only
 * reports matches that start before its last MAX_MATCH_BYTES (the next window sees those whole), so a
 * secret split across pieces or windows is found exactly once.
 */
export class SecretScanner {
  readonly #windowBytes: number;
  /** The window: the carried tail of earlier bytes, then the new ones. Reused, so garbage stays small. */
  #buffer: Buffer = Buffer.alloc(0);
  #carryLength = 0;
  /** Stream offset of #buffer[0]. */
  #carryStart = 0;
  /** Matches starting below this stream offset have been looked for. */
  #scannedTo = 0;
  #findings: Finding[] = [];
  #omitted = 0;
  /** Offsets of secrets found in this window, so a keyword before a credential does not report it again. */
  readonly #recent = new Set<number>();
  #finished = false;

  constructor(options: { windowBytes?: number } = {}) {
    const windowBytes = options.windowBytes ?? SCAN_WINDOW_BYTES;
    if (!Number.isSafeInteger(windowBytes) || windowBytes < 1) {
      throw new RangeError(`window size must be a positive integer, not ${windowBytes}`);
    }
    this.#windowBytes = windowBytes;
  }

  push(bytes: Uint8Array): void {
    if (this.#finished) throw new Error('SecretScanner: push after finish');
    for (let at = 0; at < bytes.length; at += this.#windowBytes) {
      this.#scan(bytes.subarray(at, at + this.#windowBytes), false);
    }
  }

  finish(): ScanResult {
    if (!this.#finished) {
      this.#scan(new Uint8Array(0), true);
      this.#finished = true;
      this.#buffer = Buffer.alloc(0);
      this.#findings.sort((a, b) => a.offset - b.offset);
    }
    return { findings: this.#findings, omitted: this.#omitted, scannedBytes: this.#scannedTo };
  }

  #scan(bytes: Uint8Array, final: boolean): void {
    const length = this.#carryLength + bytes.length;
    if (length > this.#buffer.length) {
      // At most a window and a carried tail (MAX_MATCH_BYTES + LOOK_BEHIND_BYTES, plus a short piece).
      const grown = Buffer.allocUnsafe(length);
      grown.set(this.#buffer.subarray(0, this.#carryLength));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#carryLength); // a copy: callers may reuse their buffers
    const windowStart = this.#carryStart;
    const windowEnd = windowStart + length;
    const scanTo = final ? windowEnd : windowEnd - MAX_MATCH_BYTES;
    if (scanTo > this.#scannedTo) {
      const text = this.#buffer.toString('latin1', 0, length);
      this.#match(text, windowStart, this.#scannedTo - windowStart, scanTo - windowStart);
      this.#scannedTo = scanTo;
    }
    const keepFrom = Math.max(windowStart, this.#scannedTo - LOOK_BEHIND_BYTES);
    this.#buffer.copyWithin(0, keepFrom - windowStart, length);
    this.#carryLength = windowEnd - keepFrom;
    this.#carryStart = keepFrom;
  }

  /** Looks for matches that start in text[from, to); `base` is the stream offset of text[0]. */
  #match(text: string, base: number, from: number, to: number): void {
    for (const offset of this.#recent) if (offset < base) this.#recent.delete(offset);
    for (const rule of RULES) {
      rule.pattern.lastIndex = from;
      for (let m = rule.pattern.exec(text); m !== null && m.index < to; m = rule.pattern.exec(text)) {
        const at = rule.secretAt ? rule.secretAt(m) : m.index;
        this.#report(rule.kind, base + at, text.slice(at, at + 4));
      }
    }
    KEYWORD.lastIndex = from;
    for (let m = KEYWORD.exec(text); m !== null && m.index < to; m = KEYWORD.exec(text)) {
      const value = valueAfter(text, m.index + m[0].length);
      if (value && !this.#recent.has(base + value.at)) {
        this.#report('high-entropy-secret', base + value.at, value.text);
      }
    }
  }

  #report(kind: SecretKind, offset: number, text: string): void {
    this.#recent.add(offset);
    if (this.#findings.length >= MAX_FINDINGS) this.#omitted++;
    else this.#findings.push({ kind, offset, excerpt: redact(text) });
  }
}

/**
 * The value of `label SEPARATORS value`, where the label is the identifier the keyword is part of
 * ("db_password", "API_KEY") and the value starts within KEYWORD_GAP bytes of the keyword; undefined
 * unless it is high-entropy. Requiring printable separators keeps string tables and symbol names, where
 * a keyword is merely followed by the next NUL-terminated string, out of the findings.
 */
function valueAfter(text: string, keywordEnd: number): { at: number; text: string } | undefined {
  const limit = Math.min(keywordEnd + KEYWORD_GAP, text.length - 1);
  let at = keywordEnd;
  while (at <= limit && VALUE_CHAR[text.charCodeAt(at)] === 1) at++;
  while (at <= limit && SEPARATOR[text.charCodeAt(at)] === 1) at++;
  if (at > limit || VALUE_CHAR[text.charCodeAt(at)] !== 1) return undefined;
  let end = at;
  while (end < text.length && end - at < VALUE_MAX && VALUE_CHAR[text.charCodeAt(end)] === 1) end++;
  const value = text.slice(at, end);
  return isHighEntropy(value) ? { at, text: value } : undefined;
}

/** Scans firmware held in memory. */
export function scanSecrets(bytes: Uint8Array, options: { windowBytes?: number } = {}): ScanResult {
  const scanner = new SecretScanner(options);
  scanner.push(bytes);
  return scanner.finish();
}

/** Scans firmware as it streams (a file's read stream, a download), never holding more than a window. */
export async function scanSecretsStream(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { windowBytes?: number } = {},
): Promise<ScanResult> {
  const scanner = new SecretScanner(options);
  for await (const chunk of chunks) scanner.push(chunk);
  return scanner.finish();
}
