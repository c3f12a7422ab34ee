import { test, before } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { decoderCosine, activationCosine, saeActivationCosine } from '../../lib/checkpoints/similarity';
import { matchBySimilarity, loadMatching } from '../../lib/checkpoints/match';
import { writeSafetensors } from '../../lib/io/safetensors';
import { command } from '../../lib/cli/commands/match-features';
import { rng, randn, permutation, saeFromDecoder } from './util';

before(setupBackend);

const D_IN = 16;
const D_SAE = 40;

/** Decoder rows of A, and B = A's rows permuted (B[perm[i]] = A[i]) plus gaussian noise of std `noise`, optionally truncated to `dB` rows. */
function permutedPair(seed: number, noise: number, dB = D_SAE): { a: Float32Array; b: Float32Array; perm: number[] } {
  const r = rng(seed);
  const a = randn(r, D_SAE * D_IN);
  const perm = permutation(r, D_SAE);
  const full = new Float32Array(D_SAE * D_IN);
  const eps = randn(r, D_SAE * D_IN);
  for (let i = 0; i < D_SAE; i++) for (let k = 0; k < D_IN; k++) full[perm[i] * D_IN + k] = a[i * D_IN + k] + noise * eps[i * D_IN + k];
  return { a, b: full.slice(0, dB * D_IN), perm };
}

test('decoderCosine is the cosine of decoder rows (checked by hand on 3 rows)', () => {
  const a = saeFromDecoder(Float32Array.from([1, 0, 0, 1, 1, 0]), 2, 3);
  const b = saeFromDecoder(Float32Array.from([0, 2, 0, 3, 0, 4, 1, 1, 1]), 3, 3);
  const s = decoderCosine(a, b);
  assert.deepStrictEqual([s.rows, s.cols], [2, 3]);
  const r2 = Math.SQRT1_2;
  const r3 = 1 / Math.sqrt(3);
  assertClose(s.values, [0, 0.6, r3, r2, 0.6 * r2, 2 * r2 * r3], 1e-6);
  a.dispose();
  b.dispose();
});

test('decoder matching recovers a known permutation of a random SAE decoder under noise', () => {
  const { a, b, perm } = permutedPair(7, 0.2);
  const saeA = saeFromDecoder(a, D_SAE, D_IN);
  const saeB = saeFromDecoder(b, D_SAE, D_IN);
  const m = matchBySimilarity(decoderCosine(saeA, saeB), 'decoder');
  assert.deepStrictEqual(Array.from(m.assignment), perm);
  assert.deepStrictEqual([m.unmatchedA, m.unmatchedB], [[], []]);
  // the matched similarity is the cosine between row i of A and row perm[i] of B, computed here directly
  for (let i = 0; i < D_SAE; i++) {
    let dot = 0, na = 0, nb = 0;
    for (let k = 0; k < D_IN; k++) {
      const x = a[i * D_IN + k], y = b[perm[i] * D_IN + k];
      dot += x * y; na += x * x; nb += y * y;
    }
    assert.ok(Math.abs(m.similarity[i] - dot / Math.sqrt(na * nb)) < 1e-5);
  }
  saeA.dispose();
  saeB.dispose();
});

test('rectangular matching reports the unmatched features on either side', () => {
  const dB = 30;
  const { a, b, perm } = permutedPair(8, 0.1, dB);
  const saeA = saeFromDecoder(a, D_SAE, D_IN);
  const saeB = saeFromDecoder(b, dB, D_IN);
  const m = matchBySimilarity(decoderCosine(saeA, saeB));
  // A features whose partner row was cut off are the unmatched ones; the rest keep their partner
  const expectedUnmatched = perm.map((p, i) => (p >= dB ? i : -1)).filter((i) => i >= 0);
  assert.deepStrictEqual(m.unmatchedA, expectedUnmatched);
  perm.forEach((p, i) => assert.strictEqual(m.assignment[i], p >= dB ? -1 : p));
  for (const i of expectedUnmatched) assert.ok(Number.isNaN(m.similarity[i]));
  // the other direction: B smaller than A -> every B feature matched, A's extra ones listed as unmatched B
  const back = matchBySimilarity(decoderCosine(saeB, saeA));
  assert.deepStrictEqual(back.unmatchedB, expectedUnmatched);
  for (let j = 0; j < dB; j++) assert.strictEqual(perm[back.assignment[j]], j);
  saeA.dispose();
  saeB.dispose();
});

test('activation matching: permuted feature columns with noise, and SAE encodings of shared tokens', () => {
  const r = rng(9);
  const n = 300;
  // sparse non-negative activations [n, D_SAE]
  const fa = Float32Array.from(randn(r, n * D_SAE), (v) => (v > 1 ? v - 1 : 0));
  const perm = permutation(r, D_SAE);
  const fb = new Float32Array(n * D_SAE);
  const eps = randn(r, n * D_SAE);
  for (let t = 0; t < n; t++) for (let i = 0; i < D_SAE; i++) fb[t * D_SAE + perm[i]] = Math.max(0, fa[t * D_SAE + i] + 0.05 * eps[t * D_SAE + i]);
  const ta = tf.tensor2d(fa, [n, D_SAE]);
  const tb = tf.tensor2d(fb, [n, D_SAE]);
  const sim = activationCosine(ta, tb, 64);
  // one entry checked against the formula directly
  let dot = 0, na = 0, nb = 0;
  for (let t = 0; t < n; t++) {
    const x = fa[t * D_SAE + 3], y = fb[t * D_SAE + 5];
    dot += x * y; na += x * x; nb += y * y;
  }
  assert.ok(Math.abs(sim.values[3 * D_SAE + 5] - dot / Math.sqrt(na * nb)) < 1e-5);
  assert.deepStrictEqual(Array.from(matchBySimilarity(sim, 'activation').assignment), perm);
  tf.dispose([ta, tb]);

  // two SAEs whose decoders (= encoders) are permutations of each other: encodings of the same tokens are permuted columns
  const { a, b, perm: p2 } = permutedPair(10, 0);
  const saeA = saeFromDecoder(a, D_SAE, D_IN);
  const saeB = saeFromDecoder(b, D_SAE, D_IN);
  const x = tf.tensor2d(randn(r, 500 * D_IN), [500, D_IN]);
  const m = matchBySimilarity(saeActivationCosine(saeA, saeB, x, x, 128));
  assert.deepStrictEqual(Array.from(m.assignment), p2);
  for (const s of m.similarity) assert.ok(Math.abs(s - 1) < 1e-5);
  tf.dispose(x);
  saeA.dispose();
  saeB.dispose();
});

test('saelab match-features writes assignment int32 [d_sae_a] and similarity float32 [d_sae_a] (decoder and activation)', async () => {
  const dir = tmpDir();
  const { a, b, perm } = permutedPair(11, 0.1);
  const saeA = saeFromDecoder(a, D_SAE, D_IN);
  const saeB = saeFromDecoder(b, D_SAE, D_IN);
  await saeA.save(path.join(dir, 'a'));
  await saeB.save(path.join(dir, 'b'));
  const out = path.join(dir, 'm.safetensors');
  const log = console.log;
  console.log = () => {};
  try {
    assert.strictEqual(await command.run(['--a', path.join(dir, 'a'), '--b', path.join(dir, 'b'), '--method', 'decoder', '--out', out]), 0);
    const m = loadMatching(out);
    assert.deepStrictEqual(Array.from(m.assignment), perm);
    assert.strictEqual(m.similarity.length, D_SAE);
    assert.strictEqual(m.metadata.method, 'decoder');

    // feature activations files (same tokens): encode with each SAE here, then match through the CLI
    const x = tf.tensor2d(randn(rng(12), 400 * D_IN), [400, D_IN]);
    const fa = saeA.encode(x);
    const fb = saeB.encode(x);
    writeSafetensors(path.join(dir, 'fa.safetensors'), { feature_acts: { shape: [400, D_SAE], data: fa.dataSync() as Float32Array } });
    writeSafetensors(path.join(dir, 'fb.safetensors'), { feature_acts: { shape: [400, D_SAE], data: fb.dataSync() as Float32Array } });
    tf.dispose([x, fa, fb]);
    const out2 = path.join(dir, 'm2.safetensors');
    assert.strictEqual(await command.run(['--a', path.join(dir, 'a'), '--b', path.join(dir, 'b'), '--method', 'activation',
      '--feature-acts-a', path.join(dir, 'fa.safetensors'), '--feature-acts-b', path.join(dir, 'fb.safetensors'), '--tensor', 'feature_acts', '--out', out2]), 0);
    assert.deepStrictEqual(Array.from(loadMatching(out2).assignment), perm);
    await assert.rejects(command.run(['--a', path.join(dir, 'a'), '--b', path.join(dir, 'b'), '--method', 'cosine', '--out', out2]), /--method must be decoder or activation/);
    await assert.rejects(command.run(['--a', path.join(dir, 'a'), '--b', path.join(dir, 'b'), '--method', 'activation', '--feature-acts-a', path.join(dir, 'fa.safetensors'),
      '--feature-acts-b', path.join(dir, 'fb.safetensors'), '--tensor', 'nope', '--out', out2]), /no tensor 'nope'/);
  } finally {
    console.log = log;
    saeA.dispose();
    saeB.dispose();
  }
});

/** All permutations of 0..n-1 (n small). */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

test('saelab match-features is optimal: its total decoder cosine equals the brute-force maximum over all 7! matchings', async () => {
  const dir = tmpDir();
  const [dIn, d] = [4, 7];
  const log = console.log;
  console.log = () => {};
  try {
    for (const seed of [21, 22, 23]) {
      // unrelated random decoders: no planted answer, many near-ties, greedy is usually not optimal
      const a = randn(rng(seed), d * dIn);
      const b = randn(rng(seed + 100), d * dIn);
      const saeA = saeFromDecoder(a, d, dIn);
      const saeB = saeFromDecoder(b, d, dIn);
      await saeA.save(path.join(dir, `a${seed}`));
      await saeB.save(path.join(dir, `b${seed}`));
      saeA.dispose();
      saeB.dispose();
      const out = path.join(dir, `m${seed}.safetensors`);
      assert.strictEqual(await command.run(['--a', path.join(dir, `a${seed}`), '--b', path.join(dir, `b${seed}`), '--method', 'decoder', '--out', out]), 0);
      const m = loadMatching(out);
      // cosine of decoder rows computed here in plain JS (the saved SAEs' rows are the ones given, up to the unit-norm folding)
      const cos = (i: number, j: number) => {
        let xy = 0, xx = 0, yy = 0;
        for (let k = 0; k < dIn; k++) {
          const x = a[i * dIn + k];
          const y = b[j * dIn + k];
          xy += x * y; xx += x * x; yy += y * y;
        }
        return xy / Math.sqrt(xx * yy);
      };
      let best = -Infinity;
      for (const p of permutations(d)) best = Math.max(best, p.reduce((s, j, i) => s + cos(i, j), 0));
      const total = Array.from(m.assignment).reduce((s, j, i) => s + cos(i, j), 0);
      assert.deepStrictEqual([...m.assignment].sort(), Array.from({ length: d }, (_, i) => i));
      assert.ok(Math.abs(total - best) < 1e-5, `seed ${seed}: CLI total ${total} vs brute-force optimum ${best}`);
      assertClose(m.similarity, Array.from(m.assignment, (j, i) => cos(i, j)), 1e-5, 1e-5, 'saved similarities');
    }
  } finally {
    console.log = log;
  }
});
