// Plain-data views of format objects, shared by the human and the --json output.
import { keyIdOf } from '../core/crypto/index.ts';
import { toHex } from '../core/format/bytes.ts';
import type { Manifest } from '../core/format/manifest.ts';
import type { ParsedImage } from '../core/image/index.ts';

/** JavaScript dates end at 8.64e15 ms; a later `created` (still a valid u64, FORMAT.md §Manifest) is shown as seconds. */
const LAST_DATE_SECONDS = 8.64e12;

export function describeCreated(seconds: number): string {
  return seconds <= LAST_DATE_SECONDS
    ? new Date(seconds * 1000).toISOString()
    : `${seconds} s after 1970-01-01T00:00:00Z`;
}

export function describeManifest(m: Manifest) {
  return {
    model: m.model,
    version: m.version,
    securityVersion: m.securityVersion,
    releaseId: toHex(m.releaseId),
    created: describeCreated(m.created),
    plaintextSize: m.plaintextSize,
    plaintextSha256: toHex(m.plaintextDigest),
    compression: { ...m.compression },
    encryption: m.encryption.algorithm,
    chunkSize: m.chunkSize,
    payloadSize: m.payloadSize,
    payloadSha256: toHex(m.payloadDigest),
  };
}

export function describeImage(image: ParsedImage) {
  const d = image.delegation.delegation;
  return {
    manifest: describeManifest(image.manifest),
    delegation: {
      version: d.version,
      threshold: d.threshold,
      approvers: d.keys.map((k) => toHex(keyIdOf(k))),
      rootSignatures: image.delegation.signatures.map((s) => toHex(s.keyId)),
    },
    signatures: image.signatures.map((s) => toHex(s.keyId)),
    size: image.payloadOffset + image.manifest.payloadSize,
  };
}

export function renderImage(view: ReturnType<typeof describeImage>): string {
  const m = view.manifest;
  const c = m.compression;
  const ratio = ((m.payloadSize / m.plaintextSize) * 100).toFixed(1);
  return [
    `model             ${m.model}`,
    `version           ${m.version} (security version ${m.securityVersion})`,
    `release id        ${m.releaseId}`,
    `created           ${m.created}`,
    `firmware          ${m.plaintextSize} bytes, sha256 ${m.plaintextSha256}`,
    `compression       ${c.algorithm}${c.algorithm === 'none' ? '' : `, window 2^${c.windowLog}, filter ${c.filter}`}`,
    `encryption        ${m.encryption}${m.encryption === 'none' ? '' : `, ${m.chunkSize}-byte chunks`}`,
    `payload           ${m.payloadSize} bytes (${ratio}% of firmware), sha256 ${m.payloadSha256}`,
    `delegation        version ${view.delegation.version}, ${view.delegation.threshold} of ${view.delegation.approvers.length} approvers`,
    `signatures        ${view.signatures.length}: ${view.signatures.map((s) => `${s.slice(0, 16)}…`).join(', ') || 'none'}`,
  ].join('\n');
}
