/**
 * Seeded pseudo-random numbers for reproducible data order (mulberry32: 32-bit state, period 2^32).
 * Not for cryptography.
 */
export function seededRandom(seed: number | string): () => number {
  let s = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
