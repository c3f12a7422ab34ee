/**
 * saelab's one seeded PRNG, mulberry32 (32-bit state, period 2^32; not for cryptography): `mulberry32(seed)`
 * as a function, `Rng` when the state must be saved and restored (training checkpoints) or normal draws are
 * needed, string seeds via `seededRandom`, and shuffles of arrays and streams built on it.
 */

/**
 * mulberry32 whose whole state is one uint32, so it can be saved in a checkpoint and restored exactly.
 * `new Rng(seed)` mixes the seed first (hashSeed); `Rng.fromState(s)` starts from a raw state.
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = hashSeed(seed) >>> 0;
  }

  /** The state to save; `Rng.fromState(state)` continues the same sequence. */
  get state(): number {
    return this.s >>> 0;
  }

  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.s = state >>> 0;
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller, one draw per call). */
  normal(): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** Mix a seed (any integer, or a list of integers) into a well-spread uint32. */
export function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    let x = Math.floor(p) >>> 0;
    for (let i = 0; i < 4; i++) {
      h ^= x & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      x >>>= 8;
    }
    const hi = Math.floor(p / 4294967296) >>> 0;
    h ^= hi;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32)
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A seeded generator of uniform numbers in [0, 1): mulberry32 from the raw state seed mod 2^32. */
export function mulberry32(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`mulberry32: seed must be a finite number, got ${seed}`);
  const rng = Rng.fromState(Math.floor(seed) >>> 0);
  return () => rng.next();
}

/** mulberry32 seeded with a number (mod 2^32) or a string (its FNV-1a hash), for reproducible data order. */
export function seededRandom(seed: number | string): () => number {
  return mulberry32(typeof seed === 'number' ? seed : hashString(seed));
}

/** FNV-1a hash of a string to 32 bits (to turn string seeds into numbers). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Fisher-Yates shuffle in place with a seeded generator; returns the array. */
export function shuffleInPlace<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = xs[i];
    xs[i] = xs[j];
    xs[j] = t;
  }
  return xs;
}

/**
 * Shuffle a stream with a bounded buffer (as Hugging Face datasets' streaming `shuffle(buffer_size, seed)`):
 * keep `bufferSize` items, emit a random one as each new item arrives, then the rest in random order.
 * Deterministic for a given seed and input order; holds at most `bufferSize` items.
 */
export async function* shuffleStream<T>(items: AsyncIterable<T> | Iterable<T>, opts: { bufferSize: number; seed: number | string }): AsyncGenerator<T> {
  if (!(opts.bufferSize >= 1)) throw new Error(`shuffleStream: bufferSize must be >= 1, got ${opts.bufferSize}`);
  const rand = seededRandom(opts.seed);
  const buf: T[] = [];
  for await (const item of items) {
    if (buf.length < opts.bufferSize) {
      buf.push(item);
      continue;
    }
    const i = Math.floor(rand() * buf.length);
    const out = buf[i];
    buf[i] = item;
    yield out;
  }
  shuffleInPlace(buf, rand);
  for (const x of buf) yield x;
}
