// Releases in a workspace: `release create` packs the firmware into releases/MODEL-VERSION/ with the
// current delegation; `release approve` adds one approver's signature. The folder holds the image, its
// content key (locked with a passphrase) and release.json.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { closeSigners, keyIdOf, wipe } from '../core/crypto/index.ts';
import { naming, SihlError } from '../core/errors.ts';
import { checkNote } from '../core/format/approval.ts';
import { toHex } from '../core/format/bytes.ts';
import { checkModel, checkVersion, streamBinding } from '../core/format/manifest.ts';
import { parseSemver } from '../core/format/semver.ts';
import { exists, readSmallFile, writeFileAtomic } from '../core/fs.ts';
import { packImage, signImage } from '../core/image/index.ts';
import { contentKeyFile } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { codecFor } from './gate-config.ts';
import { holdsPrivateKey, loadKey, type Passphrases, readRootChain } from './role-keys.ts';
import { type Finding, scanSecretsStream } from './secret-scan.ts';
import type { Workspace } from './workspace.ts';

export interface ReleaseInfo {
  readonly sihl: 'release';
  readonly version: 1;
  readonly model: string;
  readonly firmwareVersion: string;
  readonly securityVersion: number;
  readonly encrypted: boolean;
  readonly delegationVersion: number;
  readonly created: string;
  /** The image's release id (hex): ties this file, and its scan, to that image. */
  readonly releaseId: string;
  /** What the secret scan found in the firmware at create time (excerpts redacted). */
  readonly secrets: { readonly findings: readonly Finding[]; readonly omitted: number };
  /** Approval requests made for this release (`release request`), by the SHA-256 of their file. */
  readonly requests?: readonly ApprovalRequestRecord[];
  /** Who approved, when, and their note, in the order their signatures were added. */
  readonly approvals?: readonly ApprovalRecord[];
}

export interface ApprovalRequestRecord {
  readonly sha256: string;
  readonly requested: string;
  readonly delegationVersion: number;
}

export interface ApprovalRecord {
  /** The approver's key name in the workspace (sihl.json roles.targets). */
  readonly approver: string;
  readonly keyId: string;
  /** When the approver signed (ISO 8601, UTC). */
  readonly approved: string;
  readonly note: string;
  /** How the signature came: an approval file made where the approver is, or a key this workspace holds. */
  readonly via: 'approval-file' | 'workspace-key';
  /** The SHA-256 of the request the approval file answers. */
  readonly request?: string;
  /** When the signature was added to the release's image. */
  readonly added: string;
}

export interface Release {
  readonly dir: string;
  readonly info: ReleaseInfo;
  readonly imagePath: string;
  readonly contentKeyPath: string;
}

export function releasePaths(dir: string) {
  return {
    info: join(dir, 'release.json'),
    image: join(dir, 'image.sihl'),
    contentKey: join(dir, 'content.key'),
  };
}

export interface CreateReleaseOptions {
  readonly model: string;
  readonly version: string;
  readonly securityVersion?: number;
  readonly encrypt: boolean;
  readonly passphrase: string;
  readonly now?: Clock;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function createRelease(
  workspace: Workspace,
  firmware: string,
  options: CreateReleaseOptions,
): Promise<Release> {
  const model = checkModel(options.model);
  const version = checkSemver(checkVersion(options.version));
  if (workspace.config.delegationVersion === 0) {
    const { keys, threshold } = workspace.config.roles.targets;
    throw new SihlError(
      'USAGE',
      `add approvers first: ${keys.length} of ${threshold} (sihl keys add --role targets)`,
    );
  }
  await checkFitsSlot(workspace, model, firmware);
  const dir = join(workspace.dir, 'releases', `${model}-${version}`);
  const paths = releasePaths(dir);
  if (await exists(paths.info))
    throw new SihlError('FILE_EXISTS', `release ${model} ${version} exists already`, { subject: dir });
  const delegation = await readSmallFile(workspace.delegationPath, LIMITS.delegationBytes);
  const rootChain = await readRootChain(workspace);
  // The firmware is scanned while it is at hand in plaintext; `release check` reports the findings.
  const scan = await scanSecretsStream(createReadStream(firmware, { highWaterMark: 1024 * 1024 })).catch(
    (error) => {
      throw naming(firmware, error);
    },
  );
  await mkdir(dir, { recursive: true });
  try {
    const packed = await packImage(firmware, paths.image, {
      model,
      version,
      securityVersion: options.securityVersion ?? 0,
      delegation,
      rootChain,
      encrypt: options.encrypt,
      ...codecFor(workspace.config.models?.[model]),
      ...(options.now ? { now: options.now } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    if (packed.contentKey) {
      try {
        const file = await contentKeyFile(
          `${model}-${version}`,
          packed.contentKey,
          streamBinding(packed.manifestBytes),
          options.passphrase,
        );
        await writeFileAtomic(paths.contentKey, file, { mode: 0o600 });
      } finally {
        wipe(packed.contentKey);
      }
    }
    const info: ReleaseInfo = {
      sihl: 'release',
      version: 1,
      model,
      firmwareVersion: version,
      securityVersion: packed.manifest.securityVersion,
      encrypted: options.encrypt,
      delegationVersion: workspace.config.delegationVersion,
      created: new Date(packed.manifest.created * 1000).toISOString(),
      releaseId: toHex(packed.manifest.releaseId),
      secrets: { findings: scan.findings, omitted: scan.omitted },
    };
    // release.json last: its presence says the release is complete.
    await writeFileAtomic(paths.info, `${JSON.stringify(info, null, 2)}\n`);
    return { dir, info, imagePath: paths.image, contentKeyPath: paths.contentKey };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Refuses at once, before hours of packing, firmware the model's known slot cannot hold (fits-slot). */
async function checkFitsSlot(workspace: Workspace, model: string, firmware: string): Promise<void> {
  const slot = workspace.config.models?.[model]?.slotSize;
  if (slot === undefined) return;
  const size = (await stat(firmware).catch((error) => Promise.reject(naming(firmware, error)))).size;
  if (size <= slot) return;
  throw new SihlError(
    'USAGE',
    `fits-slot: the firmware is ${size} bytes; the executable slot of model "${model}" holds ${slot} (sihl.json models.${model}.slotSize)`,
    { subject: firmware },
  );
}

/** Devices and the gate order releases by SemVer precedence: refuse anything else before packing. */
function checkSemver(version: string): string {
  if (parseSemver(version)) return version;
  const core = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/i.exec(version);
  const suggestion = core ? `; did you mean ${core[1]}.${core[2] ?? 0}.${core[3] ?? 0}?` : '';
  throw new SihlError(
    'USAGE',
    `version "${version}" is not a semantic version (MAJOR.MINOR.PATCH, such as 7.28.0 or 2.0.0-rc.1)${suggestion}`,
  );
}

export async function openRelease(dir: string): Promise<Release> {
  const paths = releasePaths(dir);
  let info: ReleaseInfo;
  try {
    info = JSON.parse(await readFile(paths.info, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new SihlError('USAGE', 'release.json is not JSON', { subject: paths.info });
    throw naming(paths.info, error);
  }
  if (info.sihl !== 'release' || info.version !== 1)
    throw new SihlError('USAGE', 'not a sihl release', { subject: paths.info });
  if (
    typeof info.model !== 'string' ||
    typeof info.firmwareVersion !== 'string' ||
    !Array.isArray(info.secrets?.findings) ||
    !(info.approvals === undefined || Array.isArray(info.approvals)) ||
    !(info.requests === undefined || Array.isArray(info.requests))
  ) {
    throw new SihlError('USAGE', 'release.json is incomplete; create the release again', {
      subject: paths.info,
    });
  }
  return { dir, info, imagePath: paths.image, contentKeyPath: paths.contentKey };
}

/** Replaces release.json (atomically) with `info`. */
export async function saveReleaseInfo(release: Release, info: ReleaseInfo): Promise<Release> {
  await writeFileAtomic(releasePaths(release.dir).info, `${JSON.stringify(info, null, 2)}\n`, {
    overwrite: true,
  });
  return { ...release, info };
}

/** The release's name: MODEL-VERSION, as its folder is named. */
export function releaseName(info: Pick<ReleaseInfo, 'model' | 'firmwareVersion'>): string {
  return `${info.model}-${info.firmwareVersion}`;
}

/** One approver whose key this workspace holds signs the release's image, and release.json records it. */
export async function approveRelease(
  workspace: Workspace,
  release: Release,
  keyName: string,
  passphrases: Passphrases,
  options: { readonly note?: string; readonly now?: () => Date } = {},
): Promise<{ keyId: string; signatures: number; threshold: number; approval: ApprovalRecord }> {
  if (!workspace.config.roles.targets.keys.includes(keyName)) {
    throw new SihlError('USAGE', `"${keyName}" is not an approver in this workspace`);
  }
  const note = checkNote(options.note ?? '');
  if (!(await holdsPrivateKey(workspace, keyName))) {
    throw new SihlError(
      'USAGE',
      `${keyName}'s key is not in this workspace: make a request (sihl release request ${releaseName(release.info)}), ` +
        `${keyName} signs it with \`sihl release approve --request\` where they are, then add it with \`sihl release add-approval\``,
    );
  }
  const key = await loadKey(workspace, keyName, passphrases);
  try {
    const result = await signImage(release.imagePath, [key]);
    const when = (options.now ?? (() => new Date()))().toISOString();
    const keyId = toHex(keyIdOf(key.publicKey));
    const approval: ApprovalRecord = {
      approver: keyName,
      keyId,
      approved: when,
      note,
      via: 'workspace-key',
      added: when,
    };
    await saveReleaseInfo(release, {
      ...release.info,
      approvals: [...(release.info.approvals ?? []), approval],
    });
    return { keyId, ...result, approval };
  } finally {
    closeSigners([key]);
  }
}
