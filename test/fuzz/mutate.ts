/**
 * The fuzzer's input generator: a seeded PRNG and byte mutators (bit flips, interesting bytes,
 * truncation, deletion, insertion, duplication, splicing two corpus inputs, big-endian length
 * fields and protobuf varints set to boundary values, dictionary tokens). Pure: the same seed and
 * iteration number always give the same input, so any failure is reproduced from (seed,
 * iteration) alone.
 *
 * Small and seeded on purpose rather than a coverage-guided engine (jazzer.js): every target here
 * is a network edge whose framing is known, so structure-aware seeds plus blind mutation reach the
 * parsers' branches, and a bounded, exactly reproducible run fits CI (docs/security-tests.md).
 */

/** mulberry32: a 32-bit seeded PRNG, fast and good enough for mutation choices. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The PRNG of one iteration: derived from (seed, iteration) only, so an iteration replays alone. */
export function iterationRng(seed: number, iteration: number): Rng {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ iteration, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 16)) >>> 0);
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** Boundary values for a `width`-byte field holding something of about `near` (a length). */
function interestingValues(width: number, near: number): number[] {
  const max = width >= 4 ? 0xffffffff : 2 ** (8 * width) - 1;
  return [0, 1, max, Math.floor(max / 2), Math.floor(max / 2) + 1, Math.max(0, near - 1), near + 1, near * 2].map((v) => Math.min(v, max));
}

function writeBE(buf: Buffer, at: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    buf[at + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}

/** A protobuf varint of `v` (up to 2^53). */
export function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

export interface MutateOptions {
  /** Inputs are cut to this many bytes. */
  readonly maxLen: number;
  /** Tokens inserted or overwritten whole (protocol keywords, separators, numbers). */
  readonly dictionary?: readonly string[];
}

type Mutator = (b: Buffer, rng: Rng, other: Buffer, o: MutateOptions) => Buffer;

const mutators: readonly Mutator[] = [
  // Flip one bit.
  (b, rng) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    const at = rng.int(c.length);
    c[at] = c[at]! ^ (1 << rng.int(8));
    return c;
  },
  // Set one byte to a boundary value or a random one.
  (b, rng) => {
    if (b.length === 0) return Buffer.from([rng.pick(INTERESTING_BYTES)]);
    const c = Buffer.from(b);
    c[rng.int(c.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
    return c;
  },
  // Truncate.
  (b, rng) => b.subarray(0, rng.int(b.length + 1)),
  // Delete a range.
  (b, rng) => {
    if (b.length < 2) return b;
    const at = rng.int(b.length);
    const n = 1 + rng.int(Math.min(16, b.length - at));
    return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
  },
  // Insert random bytes.
  (b, rng) => {
    const at = rng.int(b.length + 1);
    const ins = Buffer.alloc(1 + rng.int(rng.chance(0.1) ? 512 : 8));
    for (let i = 0; i < ins.length; i++) ins[i] = rng.int(256);
    return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  },
  // Duplicate a range (repeated frames, repeated fields).
  (b, rng) => {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    const n = 1 + rng.int(Math.min(64, b.length - at));
    const chunk = b.subarray(at, at + n);
    const times = 1 + rng.int(rng.chance(0.1) ? 64 : 3);
    return Buffer.concat([b.subarray(0, at + n), ...Array<Buffer>(times).fill(chunk), b.subarray(at + n)]);
  },
  // Splice: a prefix of this input, a suffix of another corpus input.
  (b, rng, other) => Buffer.concat([b.subarray(0, rng.int(b.length + 1)), other.subarray(rng.int(other.length + 1))]),
  // A 1-4 byte big-endian field (HTTP/2 lengths, SOCKS lengths and ports) set to a boundary value.
  (b, rng) => {
    const width = rng.pick([1, 2, 3, 4]);
    if (b.length < width) return b;
    const c = Buffer.from(b);
    writeBE(c, rng.int(c.length - width + 1), width, rng.pick(interestingValues(width, c.length)));
    return c;
  },
  // A protobuf varint (lengths, enum values, field numbers) replaced by a boundary value.
  (b, rng) => {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    let end = at;
    while (end < b.length && (b[end]! & 0x80) !== 0 && end - at < 9) end++;
    const v = rng.pick([0, 1, 0x7f, 0x80, 0x3fff, 0xffffffff, 2 ** 31, b.length, b.length + 1, 2 ** 53 - 1]);
    return Buffer.concat([b.subarray(0, at), varint(v), b.subarray(Math.min(b.length, end + 1))]);
  },
  // A dictionary token inserted or written over the input.
  (b, rng, _other, o) => {
    if (!o.dictionary?.length) return b;
    const tok = Buffer.from(rng.pick(o.dictionary), "latin1");
    const at = rng.int(b.length + 1);
    const over = rng.chance(0.5) ? tok.length : 0;
    return Buffer.concat([b.subarray(0, at), tok, b.subarray(Math.min(b.length, at + over))]);
  },
];

/** One fuzz input: 1-4 stacked mutations of a corpus entry, or (1 in 20) random bytes. */
export function mutate(corpus: readonly Buffer[], rng: Rng, o: MutateOptions): Buffer {
  if (corpus.length === 0 || rng.chance(0.05)) {
    const b = Buffer.alloc(rng.int(Math.min(o.maxLen, 256) + 1));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
    return b;
  }
  let b = rng.pick(corpus);
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) b = rng.pick(mutators)(b, rng, rng.pick(corpus), o);
  return b.length > o.maxLen ? b.subarray(0, o.maxLen) : b;
}
