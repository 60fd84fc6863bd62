// Structured mutations of valid inputs for the fuzz targets. Random bytes rarely get past a magic number;
// a valid input with a few bits flipped, a field set to its limit, a part cut short, repeated, moved or
// taken from another valid input reaches the checks deep inside a decoder. Mutations are plain data
// (positions as unbounded numbers taken modulo the input's length), so fast-check shrinks and replays them.
import fc from 'fast-check';

/** Values a length or count field is set to: the edges of its type, and each limit and limit + 1. */
export function edgeValues(limits: readonly number[]): number[] {
  const edges = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
  const around = limits.flatMap((n) => [n - 1, n, n + 1]);
  return [...new Set([...edges, ...around])].filter((n) => n >= 0 && n <= 0xffffffff);
}

export type ByteMutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'field'; readonly at: number; readonly width: 1 | 2 | 4 | 8; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly bytes: readonly number[] }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly length: number; readonly to: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number; readonly length: number }
  | {
      readonly kind: 'splice';
      readonly donor: number;
      readonly from: number;
      readonly length: number;
      readonly to: number;
    };

const position = fc.nat();
const span = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4096 }));

/** One byte-level mutation; `limits` feeds the values that length fields are set to. */
export function byteMutation(limits: readonly number[] = []): fc.Arbitrary<ByteMutation> {
  const values = edgeValues(limits);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, value: fc.nat(255) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('field' as const),
        at: position,
        width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
        value: fc.constantFrom(...values),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 64 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: span }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('duplicate' as const),
        at: position,
        length: span,
        to: position,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('swap' as const), a: position, b: position, length: span }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('splice' as const),
        donor: fc.nat(),
        from: position,
        length: span,
        to: position,
      }),
    },
  );
}

/** One to four mutations applied in turn. */
export function byteMutations(limits: readonly number[] = []): fc.Arbitrary<ByteMutation[]> {
  return fc.array(byteMutation(limits), { minLength: 1, maxLength: 4 });
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A copy; `Buffer#slice` would give a view, and a mutation would then change the valid input itself. */
function copy(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}

/** Applies `m` to a copy of `bytes`; `donors` are the other valid inputs a splice takes bytes from. */
export function applyByteMutation(
  bytes: Uint8Array,
  m: ByteMutation,
  donors: readonly Uint8Array[] = [],
): Uint8Array {
  const n = bytes.length;
  const at = (p: number) => (n === 0 ? 0 : p % n);
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return copy(bytes);
      const out = copy(bytes);
      out[at(m.at)] = (out[at(m.at)] as number) ^ (1 << m.bit);
      return out;
    }
    case 'set': {
      if (n === 0) return copy(bytes);
      const out = copy(bytes);
      out[at(m.at)] = m.value;
      return out;
    }
    case 'field': {
      if (n < m.width) return copy(bytes);
      const out = copy(bytes);
      const start = m.at % (n - m.width + 1);
      const view = new DataView(out.buffer, start, m.width);
      if (m.width === 1) view.setUint8(0, m.value & 0xff);
      else if (m.width === 2) view.setUint16(0, m.value & 0xffff, true);
      else if (m.width === 4) view.setUint32(0, m.value >>> 0, true);
      else view.setBigUint64(0, BigInt(m.value), true);
      return out;
    }
    case 'truncate':
      return copy(bytes, 0, at(m.at));
    case 'append':
      return concat(bytes, Uint8Array.from(m.bytes));
    case 'delete': {
      const start = at(m.at);
      return concat(bytes.subarray(0, start), bytes.subarray(start + m.length));
    }
    case 'duplicate': {
      const start = at(m.at);
      const piece = copy(bytes, start, start + m.length);
      const to = at(m.to);
      return concat(bytes.subarray(0, to), piece, bytes.subarray(to));
    }
    case 'swap': {
      // Two non-overlapping pieces of equal length trade places (fields or records reordered).
      const length = Math.min(m.length, Math.floor(n / 2));
      if (length === 0) return copy(bytes);
      const a = m.a % (n - 2 * length + 1);
      const b = a + length + (m.b % (n - a - 2 * length + 1));
      const out = copy(bytes);
      out.set(bytes.subarray(b, b + length), a);
      out.set(bytes.subarray(a, a + length), b);
      return out;
    }
    case 'splice': {
      const donor = donors.length === 0 ? bytes : (donors[m.donor % donors.length] as Uint8Array);
      const from = donor.length === 0 ? 0 : m.from % donor.length;
      const piece = donor.subarray(from, from + m.length);
      const to = at(m.to);
      // Overwrites in place when it fits, so the input keeps its length and gets past the size checks.
      if (to + piece.length <= n) {
        const out = copy(bytes);
        out.set(piece, to);
        return out;
      }
      return concat(bytes.subarray(0, to), piece);
    }
  }
}

export function applyByteMutations(
  bytes: Uint8Array,
  mutations: readonly ByteMutation[],
  donors: readonly Uint8Array[] = [],
): Uint8Array {
  return mutations.reduce((b, m) => applyByteMutation(b, m, donors), bytes);
}

/** A whole-part mutation of an input made of parts (an image: header, manifest, delegation, …). */
export type PartMutation =
  | { readonly kind: 'bytes'; readonly part: number; readonly mutations: readonly ByteMutation[] }
  | { readonly kind: 'replace'; readonly part: number; readonly donor: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number }
  | { readonly kind: 'duplicate'; readonly part: number }
  | { readonly kind: 'drop'; readonly part: number };

export function partMutation(limits: readonly number[] = []): fc.Arbitrary<PartMutation> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('bytes' as const),
        part: fc.nat(),
        mutations: byteMutations(limits),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('replace' as const), part: fc.nat(), donor: fc.nat() }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), part: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), part: fc.nat() }) },
  );
}

/**
 * Applies `m` to `parts`; `donors` are the parts of other valid inputs of the same layout. The caller
 * lays the parts out again (for an image, behind a header whose lengths match them).
 */
export function applyPartMutation(
  parts: readonly Uint8Array[],
  m: PartMutation,
  donors: readonly (readonly Uint8Array[])[],
): Uint8Array[] {
  const out: Uint8Array[] = parts.map((p) => copy(p));
  const index = (i: number) => i % out.length;
  switch (m.kind) {
    case 'bytes': {
      const i = index(m.part);
      out[i] = applyByteMutations(
        out[i] as Uint8Array,
        m.mutations,
        donors.map((d) => d[i] ?? new Uint8Array(0)),
      );
      return out;
    }
    case 'replace': {
      const i = index(m.part);
      const donor = donors.length === 0 ? parts : (donors[m.donor % donors.length] as readonly Uint8Array[]);
      out[i] = copy(donor[i] ?? new Uint8Array(0));
      return out;
    }
    case 'swap': {
      const a = index(m.a);
      const b = index(m.b);
      [out[a], out[b]] = [out[b] as Uint8Array, out[a] as Uint8Array];
      return out;
    }
    case 'duplicate': {
      const i = index(m.part);
      out[i] = concat(out[i] as Uint8Array, out[i] as Uint8Array);
      return out;
    }
    case 'drop':
      out[index(m.part)] = new Uint8Array(0);
      return out;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
