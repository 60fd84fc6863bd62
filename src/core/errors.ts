// One error type for all of sihl. Callers branch on `code`; only the CLI turns codes into exit codes.
// Three families: verification failures (the input is bad or hostile; never retried), usage and IO
// failures (a missing file, a wrong passphrase), and internal bugs.

/** The input was checked and refused. Retrying with the same bytes gives the same answer. */
export type VerificationCode =
  | 'IMAGE_BAD_MAGIC'
  | 'IMAGE_UNSUPPORTED_VERSION'
  | 'IMAGE_BAD_HEADER'
  | 'IMAGE_TRUNCATED'
  | 'IMAGE_TRAILING_BYTES'
  | 'LIMIT_EXCEEDED'
  | 'MANIFEST_MALFORMED'
  | 'MANIFEST_INCONSISTENT'
  | 'TUF_METADATA_MALFORMED'
  | 'TUF_METADATA_INCONSISTENT'
  | 'TUF_METADATA_EXPIRED'
  | 'TARGET_MISMATCH'
  | 'DELEGATION_MALFORMED'
  | 'DELEGATION_ROLLBACK'
  | 'ROOT_CHAIN_MALFORMED'
  | 'ROOT_CHAIN_BROKEN'
  | 'SIGNATURE_BLOCK_MALFORMED'
  | 'SIGNATURE_INVALID'
  | 'SIGNATURE_UNKNOWN_KEY'
  | 'SIGNATURE_DUPLICATE_KEY'
  | 'SIGNATURE_THRESHOLD'
  | 'PAYLOAD_DIGEST_MISMATCH'
  | 'PLAINTEXT_DIGEST_MISMATCH'
  | 'PLAINTEXT_SIZE_MISMATCH'
  | 'STREAM_DECRYPT_FAILED'
  | 'STREAM_TRUNCATED'
  | 'STREAM_TRAILING_DATA'
  | 'DECOMPRESS_FAILED'
  | 'MODEL_MISMATCH'
  | 'SECURITY_VERSION_ROLLBACK'
  | 'VERSION_ROLLBACK'
  | 'STAGING_MISMATCH'
  | 'STAGING_INVALID'
  | 'ENVELOPE_MALFORMED'
  | 'ENVELOPE_WRONG_RECIPIENT'
  | 'ENVELOPE_WRONG_IMAGE'
  | 'ENVELOPE_OPEN_FAILED'
  | 'ENVELOPE_REQUIRED'
  | 'REPORT_MALFORMED'
  | 'KEY_INVALID'
  | 'CEREMONY_INVALID'
  | 'SECURE_ELEMENT_DAMAGED'
  | 'POLICY_FAILED'
  | 'APPROVAL_MALFORMED'
  | 'APPROVAL_MISMATCH';

/** The request could not be carried out: bad arguments, missing files, a wrong passphrase. */
export type UsageCode =
  | 'USAGE'
  | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS'
  | 'IO_ERROR'
  | 'KEY_FILE_MALFORMED'
  | 'KEY_WRONG_KIND'
  | 'KEY_FILE_EXPOSED'
  | 'KEY_FILE_MISPLACED'
  | 'CEREMONY_STALE'
  | 'PASSPHRASE_WRONG'
  | 'PASSPHRASE_MISSING'
  | 'RANGE_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'STORE_DENIED'
  | 'STORE_CREDENTIALS_MISSING'
  | 'NETWORK_ERROR'
  | 'NETWORK_TIMEOUT'
  | 'SERVER_ERROR'
  | 'PUBLISH_LOCKED';

/** Bugs: in sihl, or (FLASH_FAULT) a program that used flash the way hardware forbids. */
export type InternalCode = 'INTERNAL' | 'FLASH_FAULT';

export type ErrorCode = VerificationCode | UsageCode | InternalCode;

export type ErrorFamily = 'verification' | 'usage' | 'internal';

const usageCodes: ReadonlySet<string> = new Set<UsageCode>([
  'USAGE',
  'FILE_NOT_FOUND',
  'FILE_EXISTS',
  'IO_ERROR',
  'KEY_FILE_MALFORMED',
  'KEY_WRONG_KIND',
  'KEY_FILE_EXPOSED',
  'KEY_FILE_MISPLACED',
  'CEREMONY_STALE',
  'PASSPHRASE_WRONG',
  'PASSPHRASE_MISSING',
  'RANGE_INVALID',
  'STORE_UNAVAILABLE',
  'STORE_DENIED',
  'STORE_CREDENTIALS_MISSING',
  'NETWORK_ERROR',
  'NETWORK_TIMEOUT',
  'SERVER_ERROR',
  'PUBLISH_LOCKED',
]);

export function familyOf(code: ErrorCode): ErrorFamily {
  if (code === 'INTERNAL' || code === 'FLASH_FAULT') return 'internal';
  return usageCodes.has(code) ? 'usage' : 'verification';
}

export class SihlError extends Error {
  readonly code: ErrorCode;
  /** The file or object the problem is in, when there is one; shown before the message. */
  readonly subject: string | undefined;

  constructor(code: ErrorCode, message: string, options: { subject?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SihlError';
    this.code = code;
    this.subject = options.subject;
  }

  get family(): ErrorFamily {
    return familyOf(this.code);
  }

  /** The same error, now naming the file it came from (kept if one is already named). */
  about(subject: string): SihlError {
    if (this.subject !== undefined) return this;
    return new SihlError(this.code, this.message, { subject, cause: this.cause });
  }
}

export function isSihlError(error: unknown, code?: ErrorCode): error is SihlError {
  return error instanceof SihlError && (code === undefined || error.code === code);
}

/** Adds the file name to a SihlError, or wraps anything else as an IO or internal error. */
export function naming(subject: string, error: unknown): SihlError {
  if (error instanceof SihlError) return error.about(subject);
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOENT') return new SihlError('FILE_NOT_FOUND', 'no such file', { subject, cause: error });
  if (errno === 'EEXIST')
    return new SihlError('FILE_EXISTS', 'file already exists', { subject, cause: error });
  if (typeof errno === 'string') {
    return new SihlError('IO_ERROR', `${errno}: ${(error as Error).message}`, { subject, cause: error });
  }
  return new SihlError('INTERNAL', String((error as Error)?.message ?? error), { subject, cause: error });
}
