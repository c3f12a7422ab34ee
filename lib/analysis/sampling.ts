/**
 * Deterministic, seeded sampling: the same seed gives the same draw on every machine and run.
 * The PRNG is mulberry32 (32-bit state, period 2^32), ample for picking a few thousand features.
 */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). The seed is taken modulo 2^32. */
export function mulberry32(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`mulberry32: seed must be a finite number, got ${seed}`);
  let state = Math.floor(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n) from a generator. */
export function randomInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

/**
 * `k` distinct items drawn uniformly without replacement (partial Fisher-Yates), in draw order.
 * When `k >= items.length` every item is returned, in the original order.
 */
export function sampleWithoutReplacement<T>(items: ArrayLike<T>, k: number, seed: number): T[] {
  if (!Number.isInteger(k) || k < 0) throw new Error(`sampleWithoutReplacement: k must be a non-negative integer, got ${k}`);
  const pool = Array.from(items);
  if (k >= pool.length) return pool;
  const rand = mulberry32(seed);
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(rand, pool.length - i);
    const tmp = pool[i];
    pool[i] = pool[j];
    pool[j] = tmp;
  }
  return pool.slice(0, k);
}

/**
 * At most `cap` of the given indices, chosen with a seeded draw and returned in ascending order
 * (all of them when there are no more than `cap`).
 */
export function sampleIndices(indices: ArrayLike<number>, cap: number, seed: number): Int32Array {
  const picked = sampleWithoutReplacement(indices, cap, seed);
  return Int32Array.from(picked).sort();
}
