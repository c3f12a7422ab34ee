import { test } from 'node:test';
import * as assert from 'assert';
import { maxSimilarityAssignment } from '../../lib/checkpoints/assignment';
import { rng } from './util';

/** Best total over all injective maps from the smaller side into the larger (exhaustive search). */
function bruteForceBest(values: Float32Array, rows: number, cols: number): number {
  const transpose = rows > cols;
  const small = transpose ? cols : rows;
  const large = transpose ? rows : cols;
  const at = (s: number, l: number) => (transpose ? values[l * cols + s] : values[s * cols + l]);
  const used = new Array(large).fill(false);
  let best = -Infinity;
  const go = (s: number, acc: number) => {
    if (s === small) {
      best = Math.max(best, acc);
      return;
    }
    for (let l = 0; l < large; l++) {
      if (used[l]) continue;
      used[l] = true;
      go(s + 1, acc + at(s, l));
      used[l] = false;
    }
  };
  go(0, 0);
  return best;
}

test('maxSimilarityAssignment equals the brute-force optimum on random matrices up to 7x7 (square and rectangular)', () => {
  const r = rng(1234);
  let cases = 0;
  for (let rows = 1; rows <= 7; rows++) {
    for (let cols = 1; cols <= 7; cols++) {
      for (let rep = 0; rep < 3; rep++) {
        // integer-valued similarities make ties common, which exercises degenerate pivots
        const integer = rep === 0;
        const values = Float32Array.from({ length: rows * cols }, () => (integer ? Math.floor(r() * 4) - 1 : 2 * r() - 1));
        const a = maxSimilarityAssignment({ values, rows, cols });
        const matched = Array.from(a.rowToCol).filter((c) => c >= 0);
        assert.strictEqual(matched.length, Math.min(rows, cols), `${rows}x${cols}: number of pairs`);
        assert.strictEqual(new Set(matched).size, matched.length, `${rows}x${cols}: columns used twice`);
        let total = 0;
        a.rowToCol.forEach((c, i) => {
          if (c >= 0) {
            total += values[i * cols + c];
            assert.strictEqual(a.colToRow[c], i);
          }
        });
        const best = bruteForceBest(values, rows, cols);
        assert.ok(Math.abs(total - best) < 1e-5, `${rows}x${cols} rep ${rep}: total ${total} vs brute force ${best}`);
        assert.ok(Math.abs(a.total - best) < 1e-5);
        cases++;
      }
    }
  }
  assert.strictEqual(cases, 147);
});

test('maxSimilarityAssignment: a hand example where greedy is not optimal, and bad input', () => {
  // greedy takes (0,0)=0.9 then (1,1)=0.1 -> 1.0; optimum (0,1)+(1,0) = 0.8 + 0.8 = 1.6
  const a = maxSimilarityAssignment({ values: Float32Array.from([0.9, 0.8, 0.8, 0.1]), rows: 2, cols: 2 });
  assert.deepStrictEqual(Array.from(a.rowToCol), [1, 0]);
  assert.ok(Math.abs(a.total - 1.6) < 1e-6);
  assert.throws(() => maxSimilarityAssignment({ values: Float32Array.from([1, NaN]), rows: 1, cols: 2 }), /row 0, column 1/);
  assert.throws(() => maxSimilarityAssignment({ values: new Float32Array(3), rows: 2, cols: 2 }), /3 values for shape \[2, 2\]/);
});
