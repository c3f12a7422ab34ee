/**
 * Deterministic, seeded sampling: the same seed gives the same draw on every machine and run.
 * The PRNG is mulberry32 (lib/data/random.ts), ample for picking a few thousand features.
 */
import { mulberry32 } from '../data/random';

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
    const j = i + Math.floor(rand() * (pool.length - i));
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
