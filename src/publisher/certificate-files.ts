// The workspace's server certificate on disk: tls/server.crt, which devices pin, and tls/server.key.
// The key is an online key, like the timestamp key, but unlike the role keys it is stored unencrypted
// (mode 0600): the server must start unattended. TLS protects the channel only, never what devices
// accept: they verify TUF metadata and image signatures themselves.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateFingerprint, makeServerCertificate } from '../core/crypto/certificate.ts';
import { naming, SihlError } from '../core/errors.ts';
import { exists, writeFileAtomic } from '../core/fs.ts';

export const TLS_DIR = 'tls';
export const CERTIFICATE_FILE = 'server.crt';
export const KEY_FILE = 'server.key';

export interface CertificateFiles {
  readonly keyPath: string;
  readonly certPath: string;
  readonly key: string;
  readonly cert: string;
  readonly fingerprint: string;
  /** The files were made now. */
  readonly created: boolean;
}

export function certificatePaths(workspace: { readonly dir: string }): { keyPath: string; certPath: string } {
  return {
    keyPath: join(workspace.dir, TLS_DIR, KEY_FILE),
    certPath: join(workspace.dir, TLS_DIR, CERTIFICATE_FILE),
  };
}

/** Reads the workspace's certificate and key. */
export async function loadServerCertificate(workspace: { readonly dir: string }): Promise<CertificateFiles> {
  const { keyPath, certPath } = certificatePaths(workspace);
  const read = async (path: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw naming(path, error);
    }
  };
  const cert = await read(certPath);
  const key = await read(keyPath);
  return { keyPath, certPath, key, cert, fingerprint: certificateFingerprint(cert), created: false };
}

/** Makes tls/server.key and tls/server.crt when neither exists; never replaces a certificate devices pin. */
export async function ensureServerCertificate(
  workspace: { readonly dir: string },
  hosts: readonly string[] = [],
): Promise<CertificateFiles> {
  const { keyPath, certPath } = certificatePaths(workspace);
  const [hasKey, hasCert] = [await exists(keyPath), await exists(certPath)];
  if (hasKey && hasCert) return loadServerCertificate(workspace);
  if (hasKey !== hasCert) {
    throw new SihlError(
      'FILE_NOT_FOUND',
      `${hasKey ? CERTIFICATE_FILE : KEY_FILE} is missing beside ${hasKey ? KEY_FILE : CERTIFICATE_FILE}; ` +
        'restore it, or remove both to make a new pair (devices pinning the old one must then be updated)',
      { subject: join(workspace.dir, TLS_DIR) },
    );
  }
  await mkdir(join(workspace.dir, TLS_DIR), { recursive: true, mode: 0o700 });
  const made = await makeServerCertificate({ hosts });
  await writeFileAtomic(keyPath, made.key, { mode: 0o600 });
  await writeFileAtomic(certPath, made.cert, { mode: 0o644 });
  return { keyPath, certPath, key: made.key, cert: made.cert, fingerprint: made.fingerprint, created: true };
}
