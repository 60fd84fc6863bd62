// The policy gate over a release in a workspace: gathers the facts (approvals against the current
// approvers, the registry, what is published, the secret scan done at create time) and applies the
// rules of policy.ts.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex } from '../core/format/bytes.ts';
import { verifyDelegation } from '../core/format/delegation.ts';
import { decodeRootChain } from '../core/format/root-chain.ts';
import { type ParsedImage, readImage, withFileSource } from '../core/image/index.ts';
import type { ContentKeySource } from './content-key.ts';
import { checkReleaseImage, type ImageCheck } from './gate-image.ts';
import {
  type ApprovalStatus,
  approvalStatus,
  checkRelease,
  compareSemver,
  type PolicyResult,
  parseSemver,
} from './policy.ts';
import { newestPublished, readPublished } from './published.ts';
import { openRegistry } from './registry.ts';
import type { Release } from './release.ts';
import { readRootChain, roleKeys } from './role-keys.ts';
import { type CheckOutcome, runVendorChecks } from './vendor-checks.ts';
import type { Workspace } from './workspace.ts';

export interface GateOptions {
  /** The release's content key (ContentKeyOnce's copies): an encrypted image is unpacked only with it. */
  readonly contentKey?: ContentKeySource;
}

export interface GateResult extends PolicyResult {
  /** The vendor's checks that ran, with their output files (relative to the release folder). */
  readonly vendorChecks: readonly CheckOutcome[];
}

export async function checkReleaseInWorkspace(
  workspace: Workspace,
  release: Release,
  channel: string,
  options: GateOptions = {},
): Promise<GateResult> {
  const image = await withFileSource(release.imagePath, readImage);
  if (toHex(image.manifest.releaseId) !== release.info.releaseId) {
    throw new SihlError('USAGE', 'image.sihl is not the image this release made (its release id differs)', {
      subject: release.imagePath,
    });
  }
  const approvers = await roleKeys(workspace, 'targets');
  const registry = openRegistry(workspace.registryPath);
  let registered: boolean;
  try {
    registered = registry.list({ model: image.manifest.model, includeRevoked: false, limit: 1 }).length > 0;
  } finally {
    registry.close();
  }
  const { targets } = await readPublished(workspace.storeDir);
  const newest = newestPublished(targets, image.manifest.model, channel, bySemver);
  const modelConfig = workspace.config.models?.[image.manifest.model];
  const slotSize = modelConfig?.slotSize;
  const verified = await verifyAndCheck(workspace, release, channel, options);
  const result = checkRelease({
    ...(newest ? { newestPublished: newest } : {}),
    ...(slotSize === undefined ? {} : { slotSize }),
    ...(modelConfig?.codec === undefined ? {} : { codec: modelConfig.codec }),
    image: verified.image,
    ...(verified.outcomes ? { vendorChecks: verified.outcomes } : {}),
    ...(verified.skipped ? { vendorChecksSkipped: verified.skipped } : {}),
    manifest: image.manifest,
    imageSize: (await stat(release.imagePath)).size,
    channel,
    registeredModels: registered ? [image.manifest.model] : [],
    signatures: withDelegationCheck(
      approvalStatus(image, approvers, workspace.config.roles.targets.threshold),
      image,
      await roleKeys(workspace, 'root'),
      workspace,
      await readRootChain(workspace),
    ),
    secrets: release.info.secrets.findings,
  });
  return { ...result, vendorChecks: verified.outcomes ?? [] };
}

/**
 * Verifies and unpacks the image as a device would; with checks named in sihl.json, unpacks the
 * firmware into a private temporary folder for them, removed when they are done.
 */
async function verifyAndCheck(
  workspace: Workspace,
  release: Release,
  channel: string,
  options: GateOptions,
): Promise<{ image: ImageCheck; outcomes?: CheckOutcome[]; skipped?: string }> {
  const checks = workspace.config.checks ?? [];
  if (checks.length === 0) return { image: await checkReleaseImage(workspace, release, options) };
  const temporary = await mkdtemp(join(tmpdir(), 'sihl-gate-'));
  try {
    const firmware = join(temporary, `${release.info.model}-${release.info.firmwareVersion}.bin`);
    const image = await checkReleaseImage(workspace, release, { ...options, firmwareOut: firmware });
    if (image.problems.length > 0 || image.notDecoded) {
      return { image, skipped: 'the image did not verify and unpack, so there is no firmware to check' };
    }
    const outcomes = await runVendorChecks(
      checks,
      {
        firmware,
        image: release.imagePath,
        releaseDir: release.dir,
        model: release.info.model,
        version: release.info.firmwareVersion,
        securityVersion: release.info.securityVersion,
        channel,
        releaseId: release.info.releaseId,
      },
      workspace.dir,
    );
    return { image, outcomes };
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

function chainName(bytes: Uint8Array): string {
  return bytes.length === 0 ? '(none: root version 1)' : `up to root version ${decodeRootChainEnd(bytes)}`;
}

function decodeRootChainEnd(bytes: Uint8Array): number {
  try {
    return decodeRootChain(bytes).at(-1)?.root.version ?? 1;
  } catch {
    return Number.NaN;
  }
}

/** SemVer order; a version that is not SemVer sorts first (the gate reports it). */
function bySemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  return compareSemver(x, y);
}

/** Devices check the image's delegation against their root keys and the highest version they saw. */
function withDelegationCheck(
  status: ApprovalStatus,
  image: ParsedImage,
  rootKeys: Uint8Array[],
  workspace: Workspace,
  rootChain: Uint8Array,
): ApprovalStatus {
  // Devices provisioned before a root rotation walk the image's root chain to the current root.
  if (!equalBytes(image.rootChainBytes, rootChain)) {
    const problem =
      `the image carries root chain ${chainName(image.rootChainBytes)}, the workspace is at root version ` +
      `${workspace.rootVersion}: devices that pinned an older root could not verify it; create the release again`;
    status = { ...status, problems: [...status.problems, problem] };
  }
  try {
    verifyDelegation(
      image.delegation,
      { keys: rootKeys, threshold: workspace.config.roles.root.threshold },
      workspace.config.delegationVersion,
    );
    return status;
  } catch (error) {
    const problem = `the image's delegation would be refused by devices: ${(error as Error).message}`;
    return { ...status, problems: [...status.problems, problem] };
  }
}

/** The gate as a barrier: passes (saying what it could not check), or throws POLICY_FAILED listing every failing rule. */
export async function requirePolicy(
  workspace: Workspace,
  release: Release,
  channel: string,
  options: GateOptions = {},
): Promise<GateResult> {
  const result = await checkReleaseInWorkspace(workspace, release, channel, options);
  if (result.ok) return result;
  const lines = [
    ...result.failures.map((f) => `  - ${f.rule}: ${f.message}`),
    ...result.notChecked.map((n) => `  - ${n.rule}: not checked: ${n.why}`),
  ];
  throw new SihlError(
    'POLICY_FAILED',
    `the release fails ${result.failures.length} rule(s):\n${lines.join('\n')}`,
    {
      subject: release.dir,
    },
  );
}
