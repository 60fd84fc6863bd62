// The release policy gate ("tools before deployment"): pure checks over plain facts about a release,
// run before it is published. Every rule is checked and every failure listed, so one run shows all
// that must be fixed. The caller gathers the facts (registry, published releases, approvalStatus,
// scanSecrets) and decides what to do with the result.

import { equalBytes, keyIdOf, verify } from '../core/crypto/index.ts';
import { toHex } from '../core/format/bytes.ts';
import type { Manifest } from '../core/format/manifest.ts';
import { compareSemver, parseSemver } from '../core/format/semver.ts';
import { imageMessage, type ParsedImage } from '../core/image/read.ts';
import { type Finding, redact } from './secret-scan.ts';

export const POLICY_RULES = [
  'version-rises',
  'security-version',
  'model-registered',
  'fits-slot',
  'device-decodes',
  'signatures',
  'no-secrets',
  'image-verifies',
  'vendor-checks',
] as const;

export type PolicyRule = (typeof POLICY_RULES)[number];

/** How many signatures by distinct current approvers verify, and what is wrong with the others. */
export interface ApprovalStatus {
  readonly valid: number;
  readonly threshold: number;
  readonly problems: readonly string[];
}

export interface ReleaseFacts {
  readonly manifest: Pick<
    Manifest,
    'model' | 'version' | 'securityVersion' | 'plaintextSize' | 'compression'
  >;
  /** Size of the image file; carried for reports (no rule limits it yet). */
  readonly imageSize: number;
  readonly channel: string;
  readonly registeredModels: readonly string[];
  /** The newest release already published for this model on this channel, if any. */
  readonly newestPublished?: { readonly version: string; readonly securityVersion: number };
  /** The executable slot of the device model, in bytes, when known. */
  readonly slotSize?: number;
  /** The codec the model's bootloader decodes (sihl.json models), when the model is known there. */
  readonly codec?: 'brotli' | 'lzma2';
  /** From approvalStatus, against the approvers current now (not those the image's delegation names). */
  readonly signatures: ApprovalStatus;
  /** From scanSecrets over the firmware (plaintext). */
  readonly secrets: readonly Finding[];
  /** From checkReleaseImage: what a device would refuse; absent when the image was not checked. */
  readonly image?: { readonly problems: readonly string[]; readonly notDecoded?: string };
  /** From runVendorChecks; absent when the workspace names no checks or they could not run. */
  readonly vendorChecks?: readonly VendorCheckFact[];
  /** Why the vendor's checks did not run, when the workspace names some. */
  readonly vendorChecksSkipped?: string;
}

export interface VendorCheckFact {
  readonly name: string;
  readonly ok: boolean;
  readonly status: string;
  /** The check's output file, relative to the release folder. */
  readonly log: string;
  readonly tail: string;
}

export interface PolicyFailure {
  readonly rule: PolicyRule;
  readonly message: string;
}

/** A rule that could not be applied, and why: never counted as passed. */
export interface PolicyNotChecked {
  readonly rule: PolicyRule;
  readonly why: string;
}

export interface PolicyResult {
  readonly ok: boolean;
  /** In the order of POLICY_RULES, at most one per rule. */
  readonly failures: readonly PolicyFailure[];
  readonly notChecked: readonly PolicyNotChecked[];
}

type Verdict = string | undefined | { readonly notChecked: string };

/** Findings named one by one in the no-secrets message; the rest are counted. */
const FINDINGS_LISTED = 20;

export function checkRelease(facts: ReleaseFacts): PolicyResult {
  const checks: Record<PolicyRule, (facts: ReleaseFacts) => Verdict> = {
    'version-rises': versionRises,
    'security-version': securityVersion,
    'model-registered': modelRegistered,
    'fits-slot': fitsSlot,
    'device-decodes': deviceDecodes,
    signatures,
    'no-secrets': noSecrets,
    'image-verifies': imageVerifies,
    'vendor-checks': vendorChecks,
  };
  const failures: PolicyFailure[] = [];
  const notChecked: PolicyNotChecked[] = [];
  for (const rule of POLICY_RULES) {
    const verdict = checks[rule](facts);
    if (typeof verdict === 'string') failures.push({ rule, message: verdict });
    else if (verdict !== undefined) notChecked.push({ rule, why: verdict.notChecked });
  }
  return { ok: failures.length === 0, failures, notChecked };
}

/** Devices and the update metadata order releases by version: a new one must come after the newest. */
function versionRises({ manifest, newestPublished, channel }: ReleaseFacts): string | undefined {
  const version = parseSemver(manifest.version);
  if (!version) {
    return `version "${manifest.version}" is not a semantic version (MAJOR.MINOR.PATCH, such as 1.4.0 or 2.0.0-rc.1)`;
  }
  if (!newestPublished) return undefined;
  const newest = parseSemver(newestPublished.version);
  const where = `the newest published for model "${manifest.model}" on channel "${channel}"`;
  if (!newest) {
    return `cannot order version ${manifest.version} after "${newestPublished.version}", ${where}, which is not a semantic version`;
  }
  const order = compareSemver(version, newest);
  if (order > 0) return undefined;
  return order === 0
    ? `version ${manifest.version} has the same precedence as ${newestPublished.version}, ${where}; raise it`
    : `version ${manifest.version} is below ${newestPublished.version}, ${where}`;
}

/** FORMAT.md §Verification: devices refuse a security version below their counter (anti-rollback). */
function securityVersion({ manifest, newestPublished, channel }: ReleaseFacts): string | undefined {
  if (!newestPublished || manifest.securityVersion >= newestPublished.securityVersion) return undefined;
  return (
    `security version ${manifest.securityVersion} is below ${newestPublished.securityVersion} of ` +
    `${newestPublished.version}, the newest published for model "${manifest.model}" on channel "${channel}"; ` +
    'devices that installed it would refuse this release'
  );
}

function modelRegistered({ manifest, registeredModels }: ReleaseFacts): string | undefined {
  if (registeredModels.includes(manifest.model)) return undefined;
  const known =
    registeredModels.length === 0 ? 'none are registered' : `registered: ${list(registeredModels)}`;
  return `model "${manifest.model}" is not a registered device model (${known})`;
}

function fitsSlot({ manifest, slotSize }: ReleaseFacts): Verdict {
  if (slotSize === undefined) {
    return { notChecked: `no slot size is known for model "${manifest.model}" (sihl.json models)` };
  }
  if (manifest.plaintextSize <= slotSize) return undefined;
  return (
    `firmware is ${manifest.plaintextSize} bytes; the executable slot of model "${manifest.model}" holds ` +
    `${slotSize} (${manifest.plaintextSize - slotSize} bytes too many)`
  );
}

/**
 * A model marked `"codec": "lzma2"` runs the C bootloader built without Brotli (docs/BOOTLOADER-C.md):
 * it refuses a Brotli image with COMPRESSION_UNSUPPORTED, so such a release would reach no device. Other
 * models' bootloaders (the TypeScript one, the C host build) decode every codec of the format.
 */
function deviceDecodes({ manifest, codec }: ReleaseFacts): string | undefined {
  if (codec !== 'lzma2' || manifest.compression.algorithm !== 'brotli') return undefined;
  return (
    `the image is compressed with Brotli, which the bootloader of model "${manifest.model}" does not decode ` +
    `(sihl.json models.${manifest.model}.codec is "lzma2"): devices would refuse it with COMPRESSION_UNSUPPORTED; ` +
    'pack it again with --compression lzma2'
  );
}

/** FORMAT.md §Signatures: a threshold of distinct approvers, and no bad entry (devices refuse those). */
function signatures({ signatures: s }: ReleaseFacts): string | undefined {
  const parts: string[] = [];
  if (!Number.isInteger(s.threshold) || s.threshold < 1) {
    parts.push(`the approval threshold ${s.threshold} is not a positive whole number`);
  } else if (s.valid < s.threshold) {
    parts.push(`${s.valid} valid signature(s) by distinct current approvers; ${s.threshold} required`);
  }
  parts.push(...s.problems);
  return parts.length === 0 ? undefined : parts.join('; ');
}

function noSecrets({ secrets }: ReleaseFacts): string | undefined {
  if (secrets.length === 0) return undefined;
  // The excerpt is redacted again: a finding may come from elsewhere than scanSecrets.
  const shown = secrets
    .slice(0, FINDINGS_LISTED)
    .map((f) => `${f.kind} at offset ${f.offset} (0x${f.offset.toString(16)}) "${redact(f.excerpt)}"`);
  const more = secrets.length > FINDINGS_LISTED ? `; and ${secrets.length - FINDINGS_LISTED} more` : '';
  return `the firmware contains ${secrets.length} secret(s): ${shown.join('; ')}${more}`;
}

/** FORMAT.md §Verification and §Unpacking: what a device would do with the image, done first here. */
function imageVerifies({ image }: ReleaseFacts): Verdict {
  if (!image) return { notChecked: 'the image was not verified' };
  if (image.problems.length > 0) return `devices would refuse the image: ${image.problems.join('; ')}`;
  if (image.notDecoded)
    return { notChecked: `signatures and payload digest verify; not unpacked: ${image.notDecoded}` };
  return undefined;
}

function vendorChecks({ vendorChecks: outcomes, vendorChecksSkipped }: ReleaseFacts): Verdict {
  if (vendorChecksSkipped) return { notChecked: vendorChecksSkipped };
  if (!outcomes || outcomes.length === 0) return { notChecked: 'sihl.json names no checks' };
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length === 0) return undefined;
  return failed
    .map(
      (o) =>
        `check "${o.name}" failed (${o.status}; output in ${o.log})${o.tail ? `: ${lastLine(o.tail)}` : ''}`,
    )
    .join('; ');
}

const lastLine = (text: string) => text.split('\n').at(-1)?.slice(0, 200) ?? '';

function list(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown}, … (${items.length} in all)` : shown;
}

const shortId = (keyId: Uint8Array) => `${toHex(keyId).slice(0, 16)}…`;

/**
 * Counts the image's signatures by distinct current approvers that verify over the manifest (FORMAT.md
 * §Signatures), without throwing. Every other entry is a problem, as are entries out of key id order and
 * signers the image's own delegation does not name: devices would refuse the image for any of these.
 */
export function approvalStatus(
  image: Pick<ParsedImage, 'manifestBytes' | 'signatures' | 'delegation'>,
  approverKeys: readonly Uint8Array[],
  threshold: number,
): ApprovalStatus {
  const message = imageMessage(image.manifestBytes);
  const approvers = approverKeys.map((key) => ({ id: keyIdOf(key), key }));
  const delegated = image.delegation.delegation.keys.map(keyIdOf);
  const counted: Uint8Array[] = [];
  const problems: string[] = [];
  let previous: Uint8Array | undefined;
  for (const entry of image.signatures) {
    if (previous && Buffer.compare(previous, entry.keyId) > 0) {
      problems.push(`signature by key ${shortId(entry.keyId)} is out of key id order`);
    }
    previous = entry.keyId;
    const approver = approvers.find((a) => equalBytes(a.id, entry.keyId));
    if (!approver) {
      problems.push(`signature by key ${shortId(entry.keyId)}, which is not a current approver`);
    } else if (counted.some((id) => equalBytes(id, entry.keyId))) {
      problems.push(`second signature by key ${shortId(entry.keyId)}`);
    } else if (!verify(approver.key, message, entry.signature)) {
      problems.push(`signature by key ${shortId(entry.keyId)} does not verify`);
    } else {
      counted.push(entry.keyId);
      if (!delegated.some((id) => equalBytes(id, entry.keyId))) {
        problems.push(
          `key ${shortId(entry.keyId)} is not in the image's delegation (version ` +
            `${image.delegation.delegation.version}); devices would refuse the image: pack it again`,
        );
      }
    }
  }
  return { valid: counted.length, threshold, problems };
}

export { compareSemver, parseSemver, type Semver } from '../core/format/semver.ts';
