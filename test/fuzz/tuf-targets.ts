// Fuzz target for TUF metadata as the vendor side reads it back (parseMetadata) and checks it before a
// publish (checkRepository, the client's steps of spec §5.3–5.6). Mutations are byte-level on the served
// JSON, or structural: a value anywhere in the document replaced, a member deleted, an array element
// repeated. Whatever still passes every check must mean exactly what was signed.
import { canonicalize } from '@tufjs/canonical-json';
import type { Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import fc from 'fast-check';
import { utf8 } from '../../src/core/format/bytes.ts';
import {
  type AnyMetadata,
  checkRepository,
  makeRoot,
  makeSnapshot,
  makeTargets,
  makeTimestamp,
  metaFileOf,
  parseMetadata,
  type Repository,
  serialize,
  signerFrom,
  signWith,
  targetEntryOf,
} from '../../src/publisher/tuf/index.ts';
import { testKey } from '../support/fixtures.ts';
import { applyByteMutations, type ByteMutation, byteMutations } from './mutations.ts';
import { check, type FuzzTarget, outcome } from './target.ts';

const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
const NOW = new Date('2029-12-01T12:00:00Z');
const REPLACEMENTS: unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 31,
  '',
  'x',
  '2029-01-01T00:00:00Z',
  [],
  {},
  true,
];

type JsonMutation =
  | { readonly kind: 'replace'; readonly node: number; readonly value: number }
  | { readonly kind: 'delete'; readonly node: number }
  | { readonly kind: 'repeat'; readonly node: number }
  | { readonly kind: 'bump'; readonly node: number };

type TufMutation =
  | { readonly role: number; readonly kind: 'bytes'; readonly mutations: readonly ByteMutation[] }
  | { readonly role: number; readonly kind: 'json'; readonly mutation: JsonMutation };

const tufMutation: fc.Arbitrary<TufMutation> = fc.oneof(
  fc.record({ role: fc.nat(3), kind: fc.constant('bytes' as const), mutations: byteMutations() }),
  fc.record({
    role: fc.nat(3),
    kind: fc.constant('json' as const),
    mutation: fc.oneof(
      fc.record({
        kind: fc.constant('replace' as const),
        node: fc.nat(),
        value: fc.nat(REPLACEMENTS.length - 1),
      }),
      fc.record({ kind: fc.constant('delete' as const), node: fc.nat() }),
      fc.record({ kind: fc.constant('repeat' as const), node: fc.nat() }),
      fc.record({ kind: fc.constant('bump' as const), node: fc.nat() }),
    ),
  }),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every value in the document with its parent and key (the root has none). */
function nodesOf(doc: Json): { parent: Json[] | { [key: string]: Json } | null; key: string | number }[] {
  const out: { parent: Json[] | { [key: string]: Json } | null; key: string | number }[] = [
    { parent: null, key: '' },
  ];
  const walk = (value: Json) => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        out.push({ parent: value, key: i });
        walk(v);
      });
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        out.push({ parent: value, key: k });
        walk(v);
      }
    }
  };
  walk(doc);
  return out;
}

function mutateJson(bytes: Uint8Array, m: JsonMutation): Uint8Array {
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as Json;
  const nodes = nodesOf(doc);
  const { parent, key } = nodes[m.node % nodes.length] as (typeof nodes)[number];
  if (parent === null) return bytes; // the document itself: leave it
  const record = parent as Record<string | number, Json>;
  switch (m.kind) {
    case 'replace':
      record[key] = structuredClone(REPLACEMENTS[m.value]) as Json;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete record[key];
      break;
    case 'repeat':
      if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]) as Json);
      else record[`${key}_`] = structuredClone(record[key]) as Json;
      break;
    case 'bump': {
      const value = record[key];
      if (typeof value === 'number') record[key] = value + 1;
      else if (typeof value === 'string') record[key] = `${value}0`;
      else record[key] = 1;
      break;
    }
  }
  return utf8.encode(JSON.stringify(doc));
}

function repository() {
  const key = (label: string) => signerFrom(testKey(`fuzz tuf ${label}`));
  const rootKey = key('root');
  const approvers = [key('a'), key('b'), key('c')];
  const snapshotKey = key('snapshot');
  const timestampKey = key('timestamp');
  const now = () => new Date('2029-12-01T00:00:00Z');
  const role = (signers: typeof approvers, threshold: number) => ({
    keys: signers.map((s) => s.publicKey),
    threshold,
  });
  const root = signWith(
    makeRoot({
      version: 1,
      now,
      roles: {
        root: role([rootKey], 1),
        targets: role(approvers, 2),
        snapshot: role([snapshotKey], 1),
        timestamp: role([timestampKey], 1),
      },
    }),
    [rootKey],
  );
  const files = [1, 2].map((n) =>
    targetEntryOf(`fuzz-board/fuzz-board-1.${n}.0.sihl`, new Uint8Array(100 * n).fill(n), {
      model: 'fuzz-board',
    }),
  );
  const targets = signWith(makeTargets({ version: 3, now, targets: files }), approvers.slice(0, 2));
  const snapshot = signWith(makeSnapshot({ version: 3, now, targets: metaFileOf(targets) }), [snapshotKey]);
  const timestamp = signWith(makeTimestamp({ version: 3, now, snapshot: metaFileOf(snapshot) }), [
    timestampKey,
  ]);
  return [root, targets, snapshot, timestamp] as AnyMetadata[];
}

function asRepository(roles: readonly AnyMetadata[]): Repository {
  return {
    roots: [roles[0] as Metadata<Root>],
    targets: roles[1] as Metadata<Targets>,
    snapshot: roles[2] as Metadata<Snapshot>,
    timestamp: roles[3] as Metadata<Timestamp>,
  };
}

function meaning(metadata: AnyMetadata): string {
  return canonicalize(metadata.signed.toJSON()).toString();
}

export const tufTarget: FuzzTarget = {
  name: 'tuf-metadata',
  quickRuns: 1000,
  async property() {
    const valid = repository();
    const served = valid.map(serialize);
    checkRepository(asRepository(valid), undefined, NOW);
    const meanings = valid.map(meaning);
    return fc.asyncProperty(tufMutation, async (m) => {
      const original = served[m.role] as Uint8Array;
      const bytes =
        m.kind === 'bytes'
          ? applyByteMutations(original, m.mutations, served)
          : mutateJson(original, m.mutation);
      const result = await outcome(() => {
        const parsed = ROLES.map((name, i) =>
          parseMetadata(name as never, i === m.role ? bytes : (served[i] as Uint8Array)),
        );
        checkRepository(asRepository(parsed), undefined, NOW);
        return parsed as AnyMetadata[];
        // checkRepository is the vendor's pre-publish check: a repository of the wrong shape (a root
        // version that cannot be reached, consistent_snapshot off) is the vendor's usage error.
      }, ['USAGE']);
      if (result.ok)
        check(
          result.value.every((md, i) => meaning(md) === meanings[i]),
          `metadata that means something else passed the checks (${ROLES[m.role]})`,
        );
      return true;
    });
  },
};
