// Semantic Versioning 2.0.0 (semver.org), shared by the vendor's policy gate, the device agent and the
// bootloader, so all order releases the same way.
import { SihlError } from '../errors.ts';

// The grammar of its §2, 9 and 10 and the precedence of §11.
// Numbers are compared as digit strings (no leading zeros), so any length is ordered exactly.

export interface Semver {
  readonly core: readonly string[];
  readonly prerelease: readonly string[];
}

const NUMBER = '0|[1-9][0-9]*';
const IDENT = `(?:${NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER = new RegExp(
  `^(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})(?:-(${IDENT}(?:\\.${IDENT})*))?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`,
);

export function parseSemver(text: string): Semver | undefined {
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  return { core: [m[1], m[2], m[3]] as string[], prerelease: m[4] === undefined ? [] : m[4].split('.') };
}

const isNumeric = (id: string) => /^[0-9]+$/.test(id);

function compareNumbers(a: string, b: string): number {
  return a.length !== b.length ? Math.sign(a.length - b.length) : a < b ? -1 : a > b ? 1 : 0;
}

function compareIdentifiers(a: string, b: string): number {
  const na = isNumeric(a);
  const nb = isNumeric(b);
  if (na && nb) return compareNumbers(a, b);
  if (na !== nb) return na ? -1 : 1; // §11.4.3: numeric identifiers have lower precedence
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Precedence (build metadata ignored): negative, zero or positive. */
export function compareSemver(a: Semver, b: Semver): number {
  for (let i = 0; i < 3; i++) {
    const order = compareNumbers(a.core[i] as string, b.core[i] as string);
    if (order !== 0) return order;
  }
  // §11.3: a pre-release comes before the release itself.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return Math.sign(b.prerelease.length - a.prerelease.length);
  }
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const order = compareIdentifiers(a.prerelease[i] as string, b.prerelease[i] as string);
    if (order !== 0) return order;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/**
 * FORMAT.md §Manifest flags, BOOT.md §Install: a signed image must be above the running version unless
 * its approvers signed it as a downgrade; firmware of unknown version has no floor. The bootloader and
 * the update agent both apply it to the manifest the approvers signed (never to unsigned metadata).
 */
export function checkVersionRises(
  manifest: { readonly version: string; readonly downgrade?: boolean },
  running: string,
): void {
  const now = parseSemver(running);
  if (now === undefined || manifest.downgrade === true) return;
  const next = parseSemver(manifest.version);
  if (next === undefined || compareSemver(next, now) <= 0) {
    throw new SihlError(
      'VERSION_ROLLBACK',
      `version ${manifest.version} is not above the running ${running}, and was not signed as a downgrade`,
    );
  }
}
