// sihl image pack | sign | inspect | verify | unpack, and sihl envelope seal.
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { closeSigners, equalBytes, type SigningKey, wipe } from '../../core/crypto/index.ts';
import { SihlError } from '../../core/errors.ts';
import { toHex } from '../../core/format/bytes.ts';
import { ENVELOPE_BYTES, openEnvelope, sealEnvelope } from '../../core/format/envelope.ts';
import {
  type BranchFilter,
  type CompressionAlgorithm,
  checkModel,
  checkVersion,
  streamBinding,
} from '../../core/format/manifest.ts';
import { exists, writeAtomically, writeFileAtomic } from '../../core/fs.ts';
import {
  PositionalWriter,
  packImage,
  readImage,
  signImage,
  unpackPayload,
  verifyImage,
  withFileSource,
} from '../../core/image/index.ts';
import { contentKeyFile } from '../../core/keys.ts';
import { LIMITS } from '../../core/limits.ts';
import type { codecFor } from '../../publisher/gate-config.ts';
import {
  type Command,
  type Context,
  integer,
  onePositional,
  optionalString,
  requireString,
  strings,
  type Values,
} from '../command.ts';
import { describeImage, describeManifest, renderImage } from '../describe.ts';
import {
  loadContentKey,
  loadDeviceKeys,
  loadPublicKey,
  loadRoot,
  loadSigningKey,
  pathIn,
  readInput,
} from '../files.ts';
import { optionLines, prose } from '../option-lines.ts';
import { passphraseFor } from '../passphrase.ts';

const force = { type: 'boolean', help: 'replace an existing output file' } as const;

/**
 * The model's codec in the workspace's sihl.json (`models.MODEL.codec`), when image pack runs in or is
 * given a workspace: --workspace, $SIHL_WORKSPACE, or the current folder when it holds a sihl.json.
 */
async function modelCodec(
  values: Values,
  context: Context,
  model: string,
): Promise<ReturnType<typeof codecFor>> {
  const named = optionalString(values, 'workspace') ?? context.env.SIHL_WORKSPACE;
  const dir = pathIn(context, named ?? '.');
  if (named === undefined && !(await exists(join(dir, 'sihl.json')))) return {};
  // Loaded only here: the image commands stay free of the publisher's modules otherwise.
  const [{ codecFor: codecOf }, { Workspace }] = await Promise.all([
    import('../../publisher/gate-config.ts'),
    import('../../publisher/workspace.ts'),
  ]);
  return codecOf((await Workspace.open(dir)).config.models?.[model]);
}

/** --compression, --window-log and --filter of `image pack`, checked; the model's codec by default. */
function codecChoice(
  values: Values,
  byModel: ReturnType<typeof codecFor>,
): {
  compression: CompressionAlgorithm;
  windowLog: number | undefined;
  filter: BranchFilter | 'auto';
} {
  const compression = optionalString(values, 'compression') ?? byModel.compression ?? 'brotli';
  if (!['brotli', 'lzma2', 'none'].includes(compression))
    throw new SihlError('USAGE', '--compression must be brotli, lzma2 or none');
  const windowLog =
    values['window-log'] === undefined ? undefined : integer(values, 'window-log', 16, 10, 16);
  const filter =
    optionalString(values, 'filter') ??
    (compression === byModel.compression ? byModel.filter : undefined) ??
    'auto';
  if (!['auto', 'none', 'thumb', 'arm'].includes(filter))
    throw new SihlError('USAGE', '--filter must be auto, none, thumb or arm');
  return {
    compression: compression as CompressionAlgorithm,
    windowLog,
    filter: filter as BranchFilter | 'auto',
  };
}

export const imagePack: Command<{
  image: string;
  contentKey: string | null;
  manifest: ReturnType<typeof describeManifest>;
  size: number;
}> = {
  path: ['image', 'pack'],
  summary: 'Compress, encrypt and (optionally) sign firmware into a sealed image.',
  usage:
    'image pack FIRMWARE --model M --version V --delegation FILE [--security-version N] [--downgrade] [--no-encrypt] [--compression brotli|lzma2|none] [--key A.key ...] [-o IMAGE]',
  details: prose`
    Writes IMAGE (default FIRMWARE.sihl) and, for an encrypted image, IMAGE.content-key: the release's
    content key, locked with a passphrase, from which \`sihl envelope seal\` makes one envelope per device.
    Approvers sign now with --key or later with \`sihl image sign\`.
  `,
  options: {
    ...optionLines(`
      --model M             device model the firmware is for
      --version V           firmware version, e.g. 7.28.0
      --security-version N  anti-rollback counter value (default 0)
      --downgrade           the approvers sign this as an explicit downgrade: devices running a higher version install it
      --delegation FILE     root-signed approver list (sihl delegation create)
      --no-encrypt          signed only: no confidentiality, no envelopes needed
    `),
    key: {
      type: 'string',
      once: true,
      value: 'FILE',
      help: "one approver's private key to sign with now (the others: sihl image sign)",
    },
    ...optionLines(`
      -o, --output IMAGE  image file to write
      --compression C     brotli, lzma2 (what the C bootloader decodes on a microcontroller) or none; default: the model's codec in sihl.json (models.MODEL.codec), else brotli
      --window-log N      log2 of the decoder window or dictionary: 10..16 for brotli, 12..16 for lzma2 (default 16)
      --level N           Brotli quality 2..11 (default 11 up to 8 MiB, 9 above)
      --filter F          branch filter: auto (default), none, thumb, arm
      --chunk-size BYTES  encryption chunk size (default 16384, ${LIMITS.chunkBytesMin}..${LIMITS.chunkBytesMax})
    `),
    force,
    ...optionLines(`
      --workspace DIR  a workspace whose sihl.json gives the model's codec (default: $SIHL_WORKSPACE, or the current folder when it is one)
    `),
  },
  async run(values, positionals, context) {
    const firmware = pathIn(context, onePositional(positionals, 'FIRMWARE'));
    const model = checkModel(requireString(values, 'model'));
    const version = checkVersion(requireString(values, 'version'));
    const delegationPath = requireString(values, 'delegation');
    const delegation = await readInput(context, delegationPath, LIMITS.delegationBytes);
    const { compression, windowLog, filter } = codecChoice(values, await modelCodec(values, context, model));
    const output = pathIn(
      context,
      optionalString(values, 'output') ?? `${onePositional(positionals, 'FIRMWARE')}.sihl`,
    );
    const encrypt = values['no-encrypt'] !== true;
    const keyPath = `${output}.content-key`;
    const overwrite = values.force === true;
    // Refuse before the long work, not after it: an image whose content key cannot be saved is useless.
    if (!overwrite && encrypt && (await exists(keyPath))) {
      throw new SihlError('FILE_EXISTS', 'file already exists; choose another name or pass --force', {
        subject: keyPath,
      });
    }
    // Ask for the content key's passphrase before the long work, too.
    const passphrase = encrypt
      ? await passphraseFor(context, `for the content key ${basename(keyPath)}`)
      : '';
    const level = values.level === undefined ? undefined : integer(values, 'level', 11, 2, 11);
    const signers: SigningKey[] = [];
    const result = await (async () => {
      try {
        for (const path of oneApproverKey(values, false)) signers.push(await loadSigningKey(context, path));
        return await packImage(firmware, output, {
          model,
          version,
          securityVersion: integer(values, 'security-version', 0),
          downgrade: values.downgrade === true,
          delegation,
          signers,
          encrypt,
          filter,
          compression,
          ...(windowLog === undefined ? {} : { windowLog }),
          chunkSize: integer(values, 'chunk-size', 16 * 1024, LIMITS.chunkBytesMin, LIMITS.chunkBytesMax),
          overwrite,
          ...(level === undefined ? {} : { quality: level }),
          ...(context.progress
            ? { onProgress: (done: number, total: number) => context.progress?.('packing', done, total) }
            : {}),
        });
      } finally {
        closeSigners(signers); // file keys wiped, token sessions closed
      }
    })();
    if (result.contentKey) {
      try {
        const file = await contentKeyFile(
          basename(output),
          result.contentKey,
          streamBinding(result.manifestBytes),
          passphrase,
        );
        await writeFileAtomic(keyPath, file, { mode: 0o600, overwrite });
      } catch (error) {
        await rm(output, { force: true }); // no image without its content key
        throw error;
      } finally {
        wipe(result.contentKey);
      }
    }
    return {
      image: output,
      contentKey: result.contentKey ? keyPath : null,
      manifest: describeManifest(result.manifest),
      size: result.size,
    };
  },
  render: (r) =>
    `packed ${r.image}: ${r.manifest.plaintextSize} → ${r.manifest.payloadSize} bytes payload ` +
    `(${((r.manifest.payloadSize / r.manifest.plaintextSize) * 100).toFixed(1)}%, filter ${r.manifest.compression.filter}, ${r.manifest.encryption})` +
    (r.contentKey ? `\ncontent key: ${r.contentKey} (keep it; seal envelopes from it)` : ''),
};

/**
 * `--key`, at most once: no sihl process unlocks more than one approver key (docs/THREATS.md §Keys), so
 * two people are needed to make two approvals.
 */
function oneApproverKey(values: Values, required: boolean): string[] {
  const keys = strings(values, 'key');
  if (required && keys.length === 0) throw new SihlError('USAGE', '--key is required');
  if (keys.length > 1) {
    throw new SihlError(
      'USAGE',
      '--key was given more than once: one approver key per process; each approver signs with `sihl image sign IMAGE --key THEIR.key`',
    );
  }
  return keys;
}

export const imageSign: Command<{ image: string; signatures: number; threshold: number }> = {
  path: ['image', 'sign'],
  summary: "Add an approver's signature to an image (each approver runs this with their own key).",
  usage: 'image sign IMAGE --key APPROVER.key',
  details: 'One approver key per process: each approver signs with their own key, in their own run.',
  options: { key: { type: 'string', once: true, value: 'FILE', help: "the approver's private key" } },
  async run(values, positionals, context) {
    const image = pathIn(context, onePositional(positionals, 'IMAGE'));
    const paths = oneApproverKey(values, true);
    const signers: SigningKey[] = [];
    try {
      for (const path of paths) signers.push(await loadSigningKey(context, path));
      return { image, ...(await signImage(image, signers)) };
    } finally {
      closeSigners(signers);
    }
  },
  render: (r) =>
    `signed ${r.image}: ${r.signatures} of ${r.threshold} required signature(s)` +
    (r.signatures < r.threshold ? ` — ${r.threshold - r.signatures} more needed` : ' — complete'),
};

export const imageInspect: Command<ReturnType<typeof describeImage> & { image: string }> = {
  path: ['image', 'inspect'],
  summary: 'Show what an image says about itself, without checking any signature.',
  usage: 'image inspect IMAGE',
  options: {},
  async run(_values, positionals, context) {
    const image = pathIn(context, onePositional(positionals, 'IMAGE'));
    return withFileSource(image, async (source) => ({ image, ...describeImage(await readImage(source)) }));
  },
  render: (r) => `${r.image} (unverified)\n${renderImage(r)}`,
};

const trustOptions = {
  root: { type: 'string', value: 'FILE', help: 'root trust file (sihl root create)' },
  model: { type: 'string', value: 'M', help: 'refuse an image for another model' },
  'min-security-version': {
    type: 'string',
    value: 'N',
    help: "refuse a security version below N (the device's counter)",
  },
  'min-delegation-version': { type: 'string', value: 'N', help: 'refuse a delegation older than N' },
} as const;

async function trustFrom(values: Parameters<Command['run']>[0], context: Parameters<Command['run']>[2]) {
  const root = await loadRoot(context, requireString(values, 'root'));
  const model = optionalString(values, 'model');
  return {
    trust: {
      root,
      rootVersion: root.version,
      minDelegationVersion: integer(values, 'min-delegation-version', 0),
    },
    options: { ...(model ? { model } : {}), minSecurityVersion: integer(values, 'min-security-version', 0) },
  };
}

export const imageVerify: Command<
  ReturnType<typeof describeImage> & { image: string; valid: true; approvers: string[] }
> = {
  path: ['image', 'verify'],
  summary: 'Check an image as a bootloader would: delegation by root, approver threshold, payload digest.',
  usage:
    'image verify IMAGE --root ROOT.json [--model M] [--min-security-version N] [--min-delegation-version N]',
  options: trustOptions,
  async run(values, positionals, context) {
    const image = pathIn(context, onePositional(positionals, 'IMAGE'));
    const { trust, options } = await trustFrom(values, context);
    return withFileSource(image, async (source) => {
      const verified = await verifyImage(source, trust, options);
      return {
        image,
        valid: true as const,
        ...describeImage(verified),
        approvers: verified.approvers.map(toHex),
      };
    });
  },
  render: (r) => `${r.image}: valid, signed by ${r.approvers.length} approver(s)\n${renderImage(r)}`,
};

export const imageUnpack: Command<{ image: string; output: string; size: number; sha256: string }> = {
  path: ['image', 'unpack'],
  summary: 'Verify an image, open its key envelope with a device key, and write the firmware.',
  usage: 'image unpack IMAGE --root ROOT.json [--device-key DEV.key --envelope ENV] -o FIRMWARE',
  details: 'The firmware file appears only if every check passed; otherwise nothing is written.',
  options: {
    ...trustOptions,
    ...optionLines(`
      --device-key FILE  the device's private key (encrypted images)
      --envelope FILE    the image's key envelope for this device
      -o, --output FILE  firmware file to write
    `),
    force,
  },
  async run(values, positionals, context) {
    const image = pathIn(context, onePositional(positionals, 'IMAGE'));
    const output = pathIn(context, requireString(values, 'output'));
    const { trust, options } = await trustFrom(values, context);
    const devicePath = optionalString(values, 'device-key');
    const envelopePath = optionalString(values, 'envelope');
    return withFileSource(image, async (source) => {
      const verified = await verifyImage(source, trust, options);
      let contentKey: Uint8Array | null = null;
      if (verified.manifest.encryption.algorithm !== 'none') {
        if (!devicePath || !envelopePath) {
          throw new SihlError('ENVELOPE_REQUIRED', 'image is encrypted: give --device-key and --envelope');
        }
        const envelope = await readInput(context, envelopePath, ENVELOPE_BYTES);
        const device = await loadDeviceKeys(context, devicePath);
        try {
          contentKey = openEnvelope(envelope, device.box, streamBinding(verified.manifestBytes));
        } catch (error) {
          throw error instanceof SihlError ? error.about(envelopePath) : error;
        } finally {
          wipe(device.box.secretKey, device.sign.secretKey);
        }
      }
      try {
        await writeAtomically(output, { overwrite: values.force === true }, async (handle) => {
          const writer = new PositionalWriter(handle, 0);
          await unpackPayload(source, verified, contentKey, writer);
          await writer.flush();
        });
      } finally {
        if (contentKey) wipe(contentKey);
      }
      return {
        image,
        output,
        size: verified.manifest.plaintextSize,
        sha256: toHex(verified.manifest.plaintextDigest),
      };
    });
  },
  render: (r) => `unpacked ${r.image} → ${r.output} (${r.size} bytes, sha256 ${r.sha256})`,
};

export const envelopeSeal: Command<{ envelope: string; device: string; image: string }> = {
  path: ['envelope', 'seal'],
  summary: "Seal an encrypted image's content key to one device's public key.",
  usage: 'envelope seal --content-key IMAGE.content-key --device DEVICE.pub -o ENVELOPE [--image IMAGE]',
  details: 'With --image, first checks that the content key belongs to that image.',
  options: {
    ...optionLines(`
      --content-key FILE  content key file written by image pack
      --device FILE       the device's public key file
      --image FILE        the image, to check the content key belongs to it
      -o, --output FILE   envelope file to write
    `),
    force,
  },
  async run(values, _positionals, context) {
    const devicePath = requireString(values, 'device');
    const device = await loadPublicKey(context, devicePath);
    if (device.kind !== 'device' || !device.box) {
      throw new SihlError('KEY_WRONG_KIND', `expected a device public key, found a ${device.kind} key`, {
        subject: devicePath,
      });
    }
    const output = pathIn(context, requireString(values, 'output'));
    const imagePath = optionalString(values, 'image');
    const keyPath = requireString(values, 'content-key');
    const { key, binding } = await loadContentKey(context, keyPath);
    try {
      if (imagePath) {
        const image = pathIn(context, imagePath);
        await withFileSource(image, async (source) => {
          const parsed = await readImage(source);
          if (!equalBytes(streamBinding(parsed.manifestBytes), binding)) {
            throw new SihlError('ENVELOPE_WRONG_IMAGE', `content key ${keyPath} belongs to another image`);
          }
        });
      }
      await writeFileAtomic(output, sealEnvelope(key, binding, device.box), {
        overwrite: values.force === true,
      });
    } finally {
      wipe(key);
    }
    return { envelope: output, device: device.name, image: toHex(binding) };
  },
  render: (r) => `sealed ${r.envelope} for device ${r.device}`,
};
