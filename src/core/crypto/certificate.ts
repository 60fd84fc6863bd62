// The embedded server's TLS certificate: self-signed, ECDSA P-256 (every TLS stack a device may run
// accepts it), with the server's names as subject alternative names. Devices pin the certificate itself
// (as their only CA), so no public CA is involved and the fingerprint is what operators compare.
// X.509 encoding is @peculiar/x509 over Node's WebCrypto; it needs a Reflect polyfill loaded first.
import 'reflect-metadata';
import { KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { SihlError } from '../errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** Long, because every device pins this certificate: replacing it means reaching the whole fleet. */
export const CERTIFICATE_DAYS = 3650;
export const DEFAULT_CERTIFICATE_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];
const HOST =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface ServerCertificate {
  /** PKCS #8 private key in PEM. */
  readonly key: string;
  /** The certificate in PEM. */
  readonly cert: string;
  /** SHA-256 of the certificate's DER, as colon-separated hex (what `openssl x509 -fingerprint -sha256` shows). */
  readonly fingerprint: string;
}

export interface CertificateOptions {
  /** DNS names and IP addresses, beside localhost and 127.0.0.1. */
  readonly hosts?: readonly string[];
  readonly now?: Date;
  readonly days?: number;
}

function checkHost(host: string): string {
  if (isIP(host) === 0 && !HOST.test(host))
    throw new SihlError('USAGE', `"${host}" is not a host name or IP address`);
  return host;
}

/** A fresh key pair and a self-signed certificate for it. */
export async function makeServerCertificate(options: CertificateOptions = {}): Promise<ServerCertificate> {
  const hosts = [...new Set([...DEFAULT_CERTIFICATE_HOSTS, ...(options.hosts ?? []).map(checkHost)])];
  const days = options.days ?? CERTIFICATE_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > 36_500)
    throw new SihlError('USAGE', 'days must be 1..36500');
  const now = options.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const serial = new Uint8Array(16);
  webcrypto.getRandomValues(serial);
  serial[0] = (serial[0] as number) & 0x7f; // a positive INTEGER (RFC 5280 §4.1.2.2)
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString('hex'),
    name: `CN=${hosts[0]}, O=sihl`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((value) => ({ type: isIP(value) === 0 ? ('dns' as const) : ('ip' as const), value })),
      ),
    ],
  });
  const cert = certificate.toString('pem');
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { key, cert, fingerprint: certificateFingerprint(cert) };
}

/** The SHA-256 fingerprint of a PEM certificate; USAGE when it is not one. */
export function certificateFingerprint(certPem: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch (error) {
    throw new SihlError('USAGE', 'not a PEM certificate', { cause: error });
  }
}
