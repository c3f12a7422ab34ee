import * as tf from '@tensorflow/tfjs';
import { mulberry32 as rng } from '../lib/data/random';
import {
  CrossLayerCollector, MaxActivationCollector, SparseCodes, decoderCosinePairs, denseToSparse, pairStatistics, relativeBound,
} from '../lib/analysis/crosslayer';

/**
 * Cross-layer statistics (issue 11, seed 000): tokens/s per layer pair for all measures at
 * d_sae 24576 with ~50 active features per token, against the dense definition (every d x d matrix
 * from [T, d] activations, as the seed computes them), timed at smaller d and extrapolated by d^2
 * (each dense measure is a [d, T] x [T, d] product plus d^2 elementwise work, so time ~ d^2 T).
 * Times are process CPU seconds (the shared 2-core machine is usually overloaded; wall time is printed
 * beside). The synthetic layers are independent, the worst case for the pair table: almost every
 * co-occurrence is a new pair (real adjacent layers share many pairs, so fewer distinct pairs).
 * CROSSLAYER_BENCH_TOKENS (default 16384) and CROSSLAYER_BENCH_DENSE_D (default "512,1024") adjust it.
 */


/**
 * Synthetic SAE codes [T, d]: ~`l0` active features per token drawn from a heavy-tailed
 * (power-law) feature frequency distribution, values ~ Exp(1) + 0.1. Layers are independent, which is
 * the pessimistic case for the pair table (real adjacent layers share many pairs).
 */
function syntheticCodes(seed: number, T: number, d: number, l0: number): SparseCodes {
  const r = rng(seed);
  const perm = Int32Array.from({ length: d }, (_, k) => k);
  for (let k = d - 1; k > 0; k--) { const m = Math.floor(r() * (k + 1)); const t = perm[k]; perm[k] = perm[m]; perm[m] = t; }
  const indptr = new Int32Array(T + 1);
  const idx: number[] = [];
  const val: number[] = [];
  const seen = new Uint8Array(d);
  for (let t = 0; t < T; t++) {
    const k = Math.max(1, Math.round(l0 + (r() - 0.5) * 0.4 * l0));
    const row: number[] = [];
    while (row.length < k) {
      const f = perm[Math.min(d - 1, Math.floor(d * r() ** 2.5))];
      if (!seen[f]) { seen[f] = 1; row.push(f); }
    }
    row.sort((a, b) => a - b);
    for (const f of row) { seen[f] = 0; idx.push(f); val.push(Math.fround(0.1 - Math.log(1 - r()))); }
    indptr[t + 1] = idx.length;
  }
  return { T, d, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) };
}

function sparseToDense(c: SparseCodes): Float32Array {
  const out = new Float32Array(c.T * c.d);
  for (let t = 0; t < c.T; t++) for (let k = c.indptr[t]; k < c.indptr[t + 1]; k++) out[t * c.d + c.indices[k]] = c.values[k];
  return out;
}

/** The dense definition of every activation measure at once, in tfjs (float32), after the 0.1 clamp. */
function denseAllMeasures(X: tf.Tensor2D, Y: tf.Tensor2D, lbX: tf.Tensor1D, lbY: tf.Tensor1D): Record<string, tf.Tensor2D> {
  return tf.tidy(() => {
    const n = X.shape[0];
    const clamp = (v: tf.Tensor): tf.Tensor2D => { const z = tf.where(tf.isNaN(v), tf.zerosLike(v), v); return tf.where(tf.less(tf.abs(z), 0.1), tf.zerosLike(z), z) as tf.Tensor2D; };
    const sxy = tf.matMul(tf.transpose(X), Y); // explicit transpose: matMul(transposeA) is ~25x slower on tfjs-wasm
    const sx = tf.sum(X, 0), sy = tf.sum(Y, 0), sxx = tf.sum(tf.square(X), 0), syy = tf.sum(tf.square(Y), 0);
    const outer = (a: tf.Tensor1D, b: tf.Tensor1D): tf.Tensor2D => tf.mul(tf.expandDims(a, 1), tf.expandDims(b, 0));
    const vx = tf.sub(tf.mul(sxx, n), tf.square(sx)) as tf.Tensor1D, vy = tf.sub(tf.mul(syy, n), tf.square(sy)) as tf.Tensor1D;
    const pearson = tf.div(tf.sub(tf.mul(sxy, n), outer(sx as tf.Tensor1D, sy as tf.Tensor1D)), tf.sqrt(outer(vx, vy)));
    const cosine = tf.div(sxy, tf.sqrt(outer(sxx as tf.Tensor1D, syy as tf.Tensor1D)));
    const sets = (A: tf.Tensor2D, B: tf.Tensor2D): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] => {
      const c = tf.matMul(tf.transpose(A), B);
      const ni = tf.expandDims(tf.sum(A, 0), 1), nj = tf.expandDims(tf.sum(B, 0), 0);
      return [c, ni, nj, tf.div(c, tf.sub(tf.add(ni, nj), c))];
    };
    const A = tf.cast(tf.greater(X, 0), 'float32') as tf.Tensor2D, B = tf.cast(tf.greater(Y, 0), 'float32') as tf.Tensor2D;
    const [c, ni, nj, jac] = sets(A, B);
    const Ar = tf.cast(tf.greater(X, lbX), 'float32') as tf.Tensor2D, Br = tf.cast(tf.greater(Y, lbY), 'float32') as tf.Tensor2D;
    const [cr, nri, nrj, jacR] = sets(Ar, Br);
    const term = (nab: tf.Tensor, na: tf.Tensor, nb: tf.Tensor): tf.Tensor => tf.where(tf.greater(nab, 0), tf.mul(tf.div(nab, n), tf.log(tf.div(tf.mul(nab, n), tf.mul(na, nb)))), tf.zerosLike(nab));
    const mi = tf.addN([
      term(c, ni, nj), term(tf.sub(ni, c), ni, tf.sub(n, nj)), term(tf.sub(nj, c), tf.sub(n, ni), nj), term(tf.add(tf.sub(tf.sub(n, ni), nj), c), tf.sub(n, ni), tf.sub(n, nj)),
    ]);
    return {
      pearson_correlation: clamp(pearson), activation_cosine_similarity: clamp(cosine), jaccard_similarity: clamp(jac), sufficiency: clamp(tf.div(c, ni)),
      necessity: clamp(tf.div(c, nj)), jaccard_similarity_relative_activation: clamp(jacR), sufficiency_relative_activation: clamp(tf.div(cr, nri)),
      necessity_relative_activation: clamp(tf.div(cr, nrj)), mutual_information: clamp(mi),
    };
  });
}

/** Process CPU seconds (user + system): steadier than wall time on a shared, overloaded machine. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function collect(a: SparseCodes, b: SparseCodes, d: number): Promise<{ col: CrossLayerCollector; addS: number; finS: number; addWall: number; finWall: number; stats: Record<string, { indices: Int32Array; values: Float32Array }> }> {
  const mp = new MaxActivationCollector(2, d);
  await mp.add([a, b]);
  const col = new CrossLayerCollector({ n_layers: 2, d_sae: d, checkpoint_tokens: 1024, max_activations: mp.result(), max_pairs_in_memory: 64_000_000 });
  const t0 = cpuSeconds();
  const w0 = performance.now();
  col.addSparse([a, b]);
  const addS = cpuSeconds() - t0;
  const addWall = (performance.now() - w0) / 1000;
  const t1 = cpuSeconds();
  const w1 = performance.now();
  const stats = pairStatistics(col, 0);
  const finS = cpuSeconds() - t1;
  const finWall = (performance.now() - w1) / 1000;
  return { col, addS, finS, addWall, finWall, stats };
}

export async function run(): Promise<void> {
  const L0 = 50;
  // 1. Sparse at the seed's size
  const D = 24576;
  const T = Number(process.env.CROSSLAYER_BENCH_TOKENS ?? 16384);
  const a = syntheticCodes(1, T, D, L0), b = syntheticCodes(2, T, D, L0);
  const { col, addS, finS, addWall, finWall, stats } = await collect(a, b, D);
  console.log(`(times are process CPU seconds; wall seconds in brackets; load average ${require('os').loadavg()[0].toFixed(1)} on ${require('os').cpus().length} cores)`);
  const nnzTotal = Object.values(stats).reduce((s, x) => s + x.values.length, 0);
  console.log(`sparse, d_sae ${D}, ${T} tokens, L0 ~${L0} (${(a.indices.length / T).toFixed(1)} / ${(b.indices.length / T).toFixed(1)} active per token), one layer pair, all 9 activation measures + dead series:`);
  console.log(`  accumulate: ${addS.toFixed(2)} s [${addWall.toFixed(1)}] = ${(T / addS).toFixed(0)} tokens/s per layer pair (${(a.indices.length * b.indices.length / T / addS / 1e6).toFixed(1)}M pair updates/s)`);
  console.log(`  finalize (all statistics, never-co-active terms included): ${finS.toFixed(2)} s [${finWall.toFixed(1)}] for ${col.peakPairsInMemory} distinct co-active pairs -> ${nnzTotal} stored values`);
  console.log(`  accumulate + finalize: ${(T / (addS + finS)).toFixed(0)} tokens/s per layer pair at ${T} tokens (finalize is once per run; distinct pairs saturate, so it amortises)`);
  console.log(`  peak pairs in memory ${col.peakPairsInMemory} (${(col.tables[0].bytes / 2 ** 20).toFixed(0)} MiB of tables; no spill: budget 64M pairs)`);
  const dense0 = sparseToDense(a);
  const tc = cpuSeconds();
  denseToSparse(dense0, D);
  const convS = cpuSeconds() - tc;
  console.log(`  dense [${T}, ${D}] float32 -> sparse input conversion: ${(T / convS).toFixed(0)} tokens/s per layer (each layer feeds two pairs)`);

  // 2. Dense definition at smaller d, extrapolated by d^2; values compared with the sparse result
  const Td = 4096;
  const denseTimes: Array<[number, number]> = [];
  for (const d of (process.env.CROSSLAYER_BENCH_DENSE_D ?? "512,1024").split(",").map(Number)) {
    const xa = syntheticCodes(3, Td, d, L0), xb = syntheticCodes(4, Td, d, L0);
    const X = tf.tensor2d(sparseToDense(xa), [Td, d]), Y = tf.tensor2d(sparseToDense(xb), [Td, d]);
    const mp = new MaxActivationCollector(2, d);
    await mp.add([xa, xb]);
    const [mA, mB] = mp.result();
    const lbX = tf.tensor1d(Float32Array.from(mA, relativeBound)), lbY = tf.tensor1d(Float32Array.from(mB, relativeBound));
    tf.dispose(Object.values(denseAllMeasures(X, Y, lbX, lbY))); // warm-up (kernels)
    const t0 = cpuSeconds();
    const w0 = performance.now();
    const out = denseAllMeasures(X, Y, lbX, lbY);
    const vals: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) vals[k] = (await v.data()) as Float32Array;
    const secs = cpuSeconds() - t0;
    const wall = (performance.now() - w0) / 1000;
    denseTimes.push([d, secs]);
    // same values: compare with the sparse collector on the same codes
    const sp = await collect(xa, xb, d);
    let maxDiff = 0, compared = 0;
    for (const [k, s] of Object.entries(sp.stats)) {
      const dv = vals[k];
      const sd = new Float32Array(d * d);
      for (let q = 0; q < s.values.length; q++) sd[s.indices[2 * q] * d + s.indices[2 * q + 1]] = s.values[q];
      for (let q = 0; q < d * d; q++) {
        if (Math.abs(Math.abs(dv[q]) - 0.1) < 1e-4 || Math.abs(Math.abs(sd[q]) - 0.1) < 1e-4) continue; // float32 vs float64 at the clamp
        maxDiff = Math.max(maxDiff, Math.abs(dv[q] - sd[q]));
        compared++;
      }
    }
    console.log(`dense definition (tfjs ${tf.getBackend()}), d ${d}, ${Td} tokens: ${secs.toFixed(2)} s [${wall.toFixed(1)}]; sparse on the same codes ${(sp.addS + sp.finS).toFixed(3)} s; max |dense - sparse| over ${compared} entries ${maxDiff.toExponential(2)}`);
    tf.dispose([X, Y, lbX, lbY, ...Object.values(out)]);
    sp.col.dispose();
  }
  const [dl, tl] = denseTimes[denseTimes.length - 1];
  const [dp, tp] = denseTimes[denseTimes.length - 2];
  const exponent = Math.log(tl / tp) / Math.log(dl / dp);
  const extrap = tl * (D / dl) ** 2;
  console.log(`dense time grows as d^${exponent.toFixed(2)} from d ${dp} to ${dl}; extrapolated by d^2 to d ${D}: ${extrap.toFixed(0)} s per ${Td} tokens (${(Td / extrap).toFixed(2)} tokens/s); the issue measured the seed's code at ~560 s`);
  const denseRate = Td / extrap;
  const withFinalize = T / (addS + finS);
  const streaming = T / addS;
  console.log(`speed-up at d ${D} vs the extrapolated tfjs dense definition: ${(withFinalize / denseRate).toFixed(0)}x including the one-off finalize at ${T} tokens, ${(streaming / denseRate).toFixed(0)}x streaming (accumulate only; finalize amortises over a long run)`);
  console.log(`vs the issue's 560 s per 4096 tokens for the seed's code: ${(withFinalize / (4096 / 560)).toFixed(0)}x / ${(streaming / (4096 / 560)).toFixed(0)}x (target >= 300x, issue 26)`);

  // 3. Decoder cosine (once per layer pair, not per token): time a block of rows and scale
  const dm = 768;
  const rows = 1024;
  const r = rng(5);
  const wA = tf.tensor2d(Float32Array.from({ length: rows * dm }, () => r() - 0.5), [rows, dm]);
  const wB = tf.tensor2d(Float32Array.from({ length: D * dm }, () => r() - 0.5), [D, dm]);
  const t0 = cpuSeconds();
  const cos = await decoderCosinePairs(wA, wB);
  const secs = cpuSeconds() - t0;
  console.log(`decoder cosine (d_model ${dm}): ${rows} x ${D} rows in ${secs.toFixed(2)} s -> ~${(secs * D / rows).toFixed(0)} s per layer pair (once per run), ${cos.values.length} kept`);
  tf.dispose([wA, wB]);
  col.dispose();
}
