// A ceremony file as the CLI shows it: the change in words, who signed, what is still missing
// (`ceremony show`, `ceremony sign`, and `keys … --ceremony` when it plans one).
import { keyIdOf } from '../../core/crypto/index.ts';
import { toHex } from '../../core/format/bytes.ts';
import { type CeremonyFile, stillMissing } from '../../publisher/ceremony.ts';

export interface PlannedCeremony {
  file: string;
  id: string;
  change: string;
  summary: readonly string[];
  signedBy: { name: string; keyId: string }[];
  missing: string[];
  ready: boolean;
}

export function plannedCeremony(file: string, ceremony: CeremonyFile): PlannedCeremony {
  const { planned } = ceremony;
  const signedBy: PlannedCeremony['signedBy'] = [];
  for (const s of ceremony.signatures) {
    const keyId = toHex(keyIdOf(s.publicKey));
    if (signedBy.some((x) => x.keyId === keyId)) continue;
    const key = [...planned.current.keys, ...planned.next.keys].find(
      (k) => toHex(keyIdOf(k.publicKey)) === keyId,
    );
    signedBy.push({ name: key?.name ?? '?', keyId });
  }
  const missing = stillMissing(ceremony);
  return {
    file,
    id: ceremony.id,
    change: ceremony.summary[0] ?? '',
    summary: ceremony.summary,
    signedBy,
    missing,
    ready: missing.length === 0,
  };
}

export function renderPlanned(r: PlannedCeremony): string {
  const lines = [`ceremony ${r.file} (id ${r.id.slice(0, 16)}…)`, ...r.summary.map((line) => `  ${line}`)];
  lines.push(
    r.signedBy.length === 0
      ? 'signed by: no root key yet'
      : `signed by: ${r.signedBy.map((s) => `${s.name} ${s.keyId.slice(0, 16)}…`).join(', ')}`,
  );
  if (r.ready) lines.push('every threshold is met: run sihl ceremony apply FILE in the workspace');
  else {
    lines.push('still needed:', ...r.missing.map((m) => `  ${m}`));
    lines.push('next: each root key holder runs sihl ceremony sign FILE --root-key KEY on their own machine');
  }
  return lines.join('\n');
}
