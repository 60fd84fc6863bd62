// Every size and count that sihl reads from untrusted input has its limit here, checked before anything
// of that size is allocated or read. docs/FORMAT.md §Limits lists the same values.

export const LIMITS = {
  /** Manifest record area: a handful of short fields. */
  manifestBytes: 4096,
  /** Delegation: body plus root signatures. */
  delegationBytes: 8192,
  /** Root chain: the root statements since the first root, each signed by the old and the new keys. */
  rootChainBytes: 16 * 1024,
  rootStatements: 32,
  /** Image signature block. */
  signatureBlockBytes: 4096,
  /** Approver keys in one delegation. */
  delegatedKeys: 16,
  /** Signatures in one block (root or image). */
  signatures: 16,
  /** Model and version strings, in bytes of UTF-8. */
  modelBytes: 64,
  versionBytes: 64,
  /** Firmware (plaintext) size: 4 GiB. */
  plaintextBytes: 2 ** 32,
  /** Compressed payload: the plaintext limit plus room for incompressible data. */
  compressedBytes: 2 ** 32 + 2 ** 26,
  /** Payload: the compressed limit plus a 17-byte tag and a 32-byte chain link per smallest chunk. */
  payloadBytes: 2 ** 32 + 2 ** 26 + ((2 ** 32 + 2 ** 26) / 256) * (17 + 32),
  /** Secretstream chunk size (plaintext bytes per chunk). */
  chunkBytesMin: 256,
  chunkBytesMax: 1024 * 1024,
  /** Compression window: 2^16 = 64 KiB, so a bootloader's RAM need is known in advance. */
  windowLogMin: 10,
  windowLogMax: 16,
  /** LZMA2's dictionary: 2^12 (liblzma's smallest) .. 2^16. */
  lzma2WindowLogMin: 12,
  /** A key file on disk. */
  keyFileBytes: 16 * 1024,
  /** A trust file (root keys) on disk. */
  trustFileBytes: 64 * 1024,
  /** An approval request (a manifest in base64 and a summary) and an approval file. */
  approvalRequestBytes: 16 * 1024,
  approvalBytes: 8 * 1024,
  /** An approver's note, in bytes of UTF-8. */
  approvalNoteBytes: 1024,
} as const;
