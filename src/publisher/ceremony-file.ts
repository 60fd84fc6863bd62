// The ceremony file (docs/WORKSPACE.md §Root key ceremony): JSON holding a planned key change, exactly the
// bytes root keys sign for it, which root keys may sign them, and the signatures so far. Decoding checks
// everything that can be checked without the workspace: the file's id over the planned part, the words
// against the bytes they describe, and every signature against the key and bytes it names. A file that
// fails any check is refused (CEREMONY_INVALID) rather than repaired.
import { checkSigningPublicKey, equalBytes, keyIdOf, sha256, verify } from '../core/crypto/index.ts';
import { SihlError } from '../core/errors.ts';
import { toHex, utf8 } from '../core/format/bytes.ts';
import { decodeDelegationBody, decodeVersionedKeySet, delegationMessage } from '../core/format/delegation.ts';
import { rootMessage } from '../core/format/root-chain.ts';
import type { KeyChange } from './key-change-plan.ts';
import type { RootKey, RootSet } from './root-keys.ts';
import {
  MESSAGE_WORDS,
  type MessageKind,
  maySign,
  type RootMessage,
  type RootSignature,
  type SetName,
} from './root-signatures.ts';
import { ROLES, type Role } from './workspace.ts';

/** Everything planning decided; signatures come on top. */
export interface Planned {
  readonly change: KeyChange;
  readonly newKey?: RootKey;
  /** When it was planned (whole seconds); the TUF root's expiry counts from here. */
  readonly plannedAt: Date;
  readonly workspaceState: string;
  readonly current: RootSet;
  readonly next: RootSet;
  readonly messages: readonly RootMessage[];
}

export interface CeremonyFile {
  /** SHA-256 of the planned part: two copies of one ceremony have the same id. */
  readonly id: string;
  readonly summary: readonly string[];
  readonly planned: Planned;
  readonly signatures: readonly RootSignature[];
}

const KINDS: readonly MessageKind[] = ['delegation', 'root-statement', 'tuf-root'];
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const short = (publicKey: Uint8Array) => `${toHex(keyIdOf(publicKey)).slice(0, 16)}…`;

function invalid(message: string): never {
  throw new SihlError('CEREMONY_INVALID', `not a valid ceremony file: ${message}`);
}

const keyJson = (k: RootKey) => ({
  name: k.name,
  publicKey: b64(k.publicKey),
  keyId: toHex(keyIdOf(k.publicKey)),
});
const setJson = (s: RootSet) => ({ threshold: s.threshold, keys: s.keys.map(keyJson) });

function plannedJson(p: Planned) {
  return {
    change: p.change,
    ...(p.newKey ? { newKey: keyJson(p.newKey) } : {}),
    plannedAt: p.plannedAt.toISOString(),
    workspaceState: p.workspaceState,
    rootKeys: { current: setJson(p.current), next: setJson(p.next) },
    messages: p.messages.map((m) => ({ kind: m.kind, signedBy: m.sets, bytes: b64(m.bytes) })),
  };
}

const idOf = (p: Planned) => toHex(sha256(utf8.encode(JSON.stringify(plannedJson(p)))));

function nameOf(p: Planned, publicKey: Uint8Array): string {
  return [...p.current.keys, ...p.next.keys].find((k) => equalBytes(k.publicKey, publicKey))?.name ?? '?';
}

export function encodeCeremony(c: { planned: Planned; signatures: readonly RootSignature[] }): string {
  const { planned } = c;
  const file = {
    sihl: 'ceremony',
    version: 1,
    id: idOf(planned),
    summary: describePlanned(planned),
    ...plannedJson(planned),
    signatures: c.signatures.map((s) => ({
      name: nameOf(planned, s.publicKey),
      keyId: toHex(keyIdOf(s.publicKey)),
      message: s.kind,
      signature: b64(s.signature),
    })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function changeWords(p: Planned): string {
  const { change, newKey } = p;
  const key = newKey ? ` (new key ${short(newKey.publicKey)})` : '';
  if (change.kind === 'add') return `add release approver ${change.name}${key}`;
  if (change.kind === 'remove') return `remove release approver ${change.name}`;
  return `replace the ${change.role} key ${change.name ?? ''} with a new key${key}`.replace('  ', ' ');
}

function messageWords(m: RootMessage): string {
  const prefix =
    m.kind === 'delegation' ? delegationMessage(new Uint8Array()) : rootMessage(new Uint8Array());
  const body = m.bytes.subarray(prefix.length);
  if (m.kind === 'delegation') {
    const d = decodeDelegationBody(body);
    return `delegation version ${d.version}: releases need ${d.threshold} of these ${d.keys.length} approver keys: ${d.keys.map(short).join(', ')}`;
  }
  if (m.kind === 'root-statement') {
    const r = decodeVersionedKeySet(body, 'ROOT_CHAIN_MALFORMED', 'root statement');
    return `root version ${r.version} that devices walk to: ${r.threshold} of these ${r.keys.length} root keys: ${r.keys.map(short).join(', ')}`;
  }
  const signed = JSON.parse(new TextDecoder().decode(m.bytes));
  const roles = Object.entries(signed.roles as Record<string, { threshold: number; keyids: string[] }>)
    .map(([name, r]) => `${name} ${r.threshold} of ${r.keyids.length}`)
    .join(', ');
  return `TUF root version ${signed.version}, expires ${signed.expires}: ${roles}`;
}

function signerWords(p: Planned, sets: readonly SetName[]): string {
  return sets
    .map((name) => {
      const set = p[name];
      const which = sets.length === 1 && name === 'current' ? '' : name === 'current' ? 'current ' : 'new ';
      return `${set.threshold} of the ${which}root keys (${set.keys.map((k) => `${k.name} ${short(k.publicKey)}`).join(', ')})`;
    })
    .join(' and ');
}

/** The planned change in words, from the bytes themselves: what each root key holder is asked to sign. */
export function describePlanned(p: Planned): string[] {
  const lines = [changeWords(p)];
  for (const m of p.messages) {
    lines.push(`${MESSAGE_WORDS[m.kind]}: ${messageWords(m)}; signed by ${signerWords(p, m.sets)}`);
  }
  lines.push(
    `planned at ${p.plannedAt.toISOString()} against workspace state ${p.workspaceState.slice(0, 16)}…`,
  );
  return lines;
}

function bytesOf(value: unknown, what: string, length?: number): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) invalid(`${what} is not base64`);
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  if (length !== undefined && bytes.length !== length) invalid(`${what} is not ${length} bytes`);
  return bytes;
}

function keyOf(value: unknown, what: string): RootKey {
  const k = value as { name?: unknown; publicKey?: unknown } | null;
  if (typeof k?.name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(k.name)) invalid(`${what} has no name`);
  try {
    return { name: k.name, publicKey: checkSigningPublicKey(bytesOf(k.publicKey, what, 32)) };
  } catch (error) {
    if (error instanceof SihlError && error.code === 'CEREMONY_INVALID') throw error;
    return invalid(`${what} is not an Ed25519 public key`);
  }
}

function setOf(value: unknown, what: string): RootSet {
  const s = value as { threshold?: unknown; keys?: unknown } | null;
  if (!Array.isArray(s?.keys) || s.keys.length === 0 || s.keys.length > 16) invalid(`${what} lists no keys`);
  const keys = s.keys.map((k, i) => keyOf(k, `${what} key ${i + 1}`));
  const t = s.threshold;
  if (!Number.isInteger(t) || (t as number) < 1 || (t as number) > keys.length) invalid(`${what} threshold`);
  return { threshold: t as number, keys };
}

function changeOf(value: unknown): KeyChange {
  const c = value as { kind?: unknown; name?: unknown; role?: unknown } | null;
  const name = c?.name;
  if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name)))
    invalid('the change names no key');
  if ((c?.kind === 'add' || c?.kind === 'remove') && typeof name === 'string') return { kind: c.kind, name };
  if (c?.kind === 'rotate' && ROLES.includes(c.role as Role))
    return { kind: 'rotate', role: c.role as Role, ...(name === undefined ? {} : { name: name as string }) };
  return invalid('the change is not add, remove or rotate');
}

function messageOf(value: unknown, i: number): RootMessage {
  const m = value as { kind?: unknown; signedBy?: unknown; bytes?: unknown } | null;
  if (!KINDS.includes(m?.kind as MessageKind)) invalid(`message ${i + 1} has an unknown kind`);
  const sets = m?.signedBy;
  if (!Array.isArray(sets) || sets.length === 0 || !sets.every((s) => s === 'current' || s === 'next'))
    invalid(`message ${i + 1} names no root keys to sign it`);
  const message = {
    kind: m?.kind as MessageKind,
    sets: sets as SetName[],
    bytes: bytesOf(m?.bytes, 'a message'),
  };
  try {
    messageWords(message);
  } catch {
    invalid(`message ${i + 1} is not ${MESSAGE_WORDS[message.kind]}`);
  }
  return message;
}

function plannedOf(f: Record<string, unknown>): Planned {
  const roots = f.rootKeys as { current?: unknown; next?: unknown } | undefined;
  const plannedAt = new Date(String(f.plannedAt));
  if (Number.isNaN(plannedAt.getTime())) invalid('plannedAt is not a time');
  if (typeof f.workspaceState !== 'string' || !/^[0-9a-f]{64}$/.test(f.workspaceState))
    invalid('workspaceState is not a digest');
  if (!Array.isArray(f.messages) || f.messages.length === 0) invalid('nothing to sign');
  return {
    change: changeOf(f.change),
    ...(f.newKey === undefined ? {} : { newKey: keyOf(f.newKey, 'the new key') }),
    plannedAt,
    workspaceState: f.workspaceState,
    current: setOf(roots?.current, 'the current root keys'),
    next: setOf(roots?.next, 'the new root keys'),
    messages: f.messages.map(messageOf),
  };
}

function signaturesOf(p: Planned, value: unknown): RootSignature[] {
  if (!Array.isArray(value)) invalid('signatures is not a list');
  const all = [...p.current.keys, ...p.next.keys];
  const out: RootSignature[] = [];
  for (const s of value as { keyId?: unknown; message?: unknown; signature?: unknown }[]) {
    const key = all.find((k) => toHex(keyIdOf(k.publicKey)) === s?.keyId);
    const message = p.messages.find((m) => m.kind === s?.message);
    if (!key || !message || !maySign(p, message, key.publicKey))
      invalid(`a signature by ${String(s?.keyId).slice(0, 16)}… is not by a root key this ceremony names`);
    const signature = bytesOf(s.signature, 'a signature', 64);
    if (out.some((o) => o.kind === message.kind && equalBytes(o.publicKey, key.publicKey)))
      invalid(`${key.name} signed ${message.kind} twice`);
    if (!verify(key.publicKey, message.bytes, signature))
      invalid(
        `${key.name}'s signature on ${message.kind} does not verify: the file was changed after it was signed`,
      );
    out.push({ publicKey: key.publicKey, kind: message.kind, signature });
  }
  return out;
}

/** The new key the change names is the one its bytes carry (in the delegation, or the new root keys). */
function checkNewKey(p: Planned): void {
  const { change, newKey } = p;
  if ((change.kind !== 'remove') !== Boolean(newKey)) invalid('the new key does not fit the change');
  if (!newKey) return;
  const inKeys = (keys: readonly Uint8Array[]) => keys.some((k) => equalBytes(k, newKey.publicKey));
  if (change.kind === 'rotate' && change.role === 'root') {
    if (!inKeys(p.next.keys.map((k) => k.publicKey))) invalid('the new root keys leave out the new key');
    return;
  }
  const delegation = p.messages.find((m) => m.kind === 'delegation');
  if (change.kind === 'rotate' && change.role !== 'targets') return;
  const body = delegation?.bytes.subarray(delegationMessage(new Uint8Array()).length);
  if (body && !inKeys(decodeDelegationBody(body).keys)) invalid('the delegation leaves out the new key');
}

export function decodeCeremony(bytes: Uint8Array): CeremonyFile {
  let f: Record<string, unknown>;
  try {
    f = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return invalid('not JSON');
  }
  if (f?.sihl !== 'ceremony' || f.version !== 1) invalid('not a sihl ceremony file, version 1');
  const planned = plannedOf(f);
  checkNewKey(planned);
  if (f.id !== idOf(planned))
    invalid('its id does not match its content: the file was changed after it was planned');
  const summary = describePlanned(planned);
  if (JSON.stringify(f.summary) !== JSON.stringify(summary))
    invalid('its summary does not describe the bytes to sign: the file was changed after it was planned');
  return { id: f.id as string, summary, planned, signatures: signaturesOf(planned, f.signatures) };
}
