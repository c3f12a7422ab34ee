import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../lib/model';

/**
 * Forward-pass speed of a GPT-2-small-shaped HookedTransformer (12 layers, d_model 768, random
 * weights), batch 8 x 128 caching one residual hook, against the time plain matmuls need for the
 * same FLOP count on the same backend. Target: forward time within 1.5x of that matmul's time.
 * SAELAB_BENCH_LAYERS / SAELAB_BENCH_VOCAB shrink the model for a quick run.
 */
export async function run(): Promise<void> {
  const nLayers = Number(process.env.SAELAB_BENCH_LAYERS ?? 12);
  const dVocab = Number(process.env.SAELAB_BENCH_VOCAB ?? 50257);
  const d = 768;
  const B = 8;
  const P = 128;
  const reps = Number(process.env.SAELAB_BENCH_REPS ?? 2);
  const N = B * P;
  // matmul FLOPs of the pass: q,k,v,o (4 d^2) + MLP (2 d d_mlp) per layer, attention scores and mixing, unembedding
  const perLayer = 2 * N * (4 * d * d + 2 * d * 3072) + 2 * 2 * B * P * P * d;
  const flops = nLayers * perLayer + 2 * N * d * dVocab;
  // plain matmuls on the same backend: [N, d] @ [d, d_mlp] (the model's largest per-layer shape),
  // repeated until they do the pass's FLOP count, timed as a whole like the pass itself
  const K = 3072;
  const a = tf.randomNormal([N, d]) as tf.Tensor2D;
  const w = tf.randomNormal([d, K]) as tf.Tensor2D;
  const count = Math.max(1, Math.round(flops / (2 * N * d * K)));
  const mm = () => { for (let i = 0; i < count; i++) { const y = tf.matMul(a, w); y.dataSync(); y.dispose(); } };
  mm();
  let bestMm = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    mm();
    bestMm = Math.min(bestMm, (performance.now() - t0) / 1000);
  }
  const mmRate = (2 * N * d * K * count) / bestMm / 1e9;
  tf.dispose([a, w]);
  const model = HookedTransformer.fromConfig({ n_layers: nLayers, d_model: d, d_head: 64, n_heads: 12, d_mlp: 3072, d_vocab: dVocab, n_ctx: 1024, act_fn: 'gelu_new' }, { seed: 0 });
  const tokens = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform([B, P], 0, 1, 'float32', 1), dVocab)), 'int32')) as tf.Tensor2D;
  const hook = `blocks.${Math.floor(nLayers / 2)}.hook_resid_pre`;
  const forwardOnce = () => {
    const { logits, cache } = model.runWithCache(tokens, { namesFilter: hook });
    (logits as tf.Tensor).dataSync();
    logits?.dispose();
    cache.dispose();
  };
  forwardOnce();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    forwardOnce();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  const gf = flops / 1e9;
  console.log(`model: ${nLayers} layers, d_model ${d}, d_vocab ${dVocab}; batch ${B} x ${P} tokens, caching ${hook}; backend ${tf.getBackend()}`);
  console.log(`forward: ${best.toFixed(3)} s  ${(N / best).toFixed(0)} tokens/s  ${(gf / best).toFixed(1)} GFLOP/s (${gf.toFixed(1)} GFLOP per pass)`);
  const mmTime = gf / mmRate;
  console.log(`plain matmul [${N}x${d}]@[${d}x${K}] x ${count} (the pass's FLOPs): ${mmRate.toFixed(1)} GFLOP/s -> ${mmTime.toFixed(3)} s for ${gf.toFixed(1)} GFLOP`);
  console.log(`forward / matmul time: ${(best / mmTime).toFixed(2)}x (target <= 1.5x)`);
  tokens.dispose();
  model.dispose();
}
