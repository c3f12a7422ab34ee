import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../lib/model';
import { SAE } from '../lib/sae';
import { attributeNodes, AttributionMethod, SAESet } from '../lib/circuits';

/**
 * Node attribution time per example (atp and ig) on a GPT-2-small-shaped random model (12 layers,
 * d_model 768, vocab 50257) with a residual SAE of 24,576 features at every blocks.L.hook_resid_pre.
 * Environment: SAELAB_BENCH_CIRCUITS_N examples per batch (default 4), _T prompt tokens (default 8),
 * _LAYERS (default 12), _DSAE (default 24576), _STEPS ig steps (default 10), _METHODS (default atp,ig);
 * SAELAB_BENCH_CIRCUITS_QUICK=1 shrinks the defaults to 2 examples, 2 layers, 4,096 features for a quick run.
 * `npm run bench -- circuits` runs it. ig costs one forward and backward pass per step and hook, so it grows
 * with the square of the layer count; atp needs one pass in all.
 * On the wasm backend (4 GiB heap) the full 12-layer set may not fit; a failure is reported, not thrown.
 */
export async function run(): Promise<void> {
  const env = (k: string, d: number) => Number(process.env[`SAELAB_BENCH_CIRCUITS_${k}`] ?? d);
  const quick = process.env.SAELAB_BENCH_CIRCUITS_QUICK === '1';
  const N = env('N', quick ? 2 : 4);
  const T = env('T', 8);
  const L = env('LAYERS', quick ? 2 : 12);
  const dSae = env('DSAE', quick ? 4096 : 24576);
  const steps = env('STEPS', 10);
  const methods = (process.env.SAELAB_BENCH_CIRCUITS_METHODS ?? 'atp,ig').split(',') as AttributionMethod[];
  const full = N === 4 && T === 8 && L === 12 && dSae === 24576;
  console.log(`circuits: GPT-2-small-shaped random model, ${L} layers, d_model 768, SAEs of ${dSae} features at every resid_pre; ${N} examples of ${T} tokens${full ? '' : ' (reduced from 12 layers x 24,576 features, 4 examples)'}`);
  const dModel = 768;
  const vocab = 50257;
  const model = HookedTransformer.fromConfig({ n_layers: L, d_model: dModel, n_heads: 12, d_head: 64, d_mlp: 3072, n_ctx: 1024, d_vocab: vocab, act_fn: 'gelu_new' }, { seed: 1 });
  const saes: SAESet = new Map();
  for (let l = 0; l < L; l++) {
    const hook = `blocks.${l}.hook_resid_pre`;
    const w = {
      W_enc: tf.randomNormal([dModel, dSae], 0, 0.02, 'float32', 10 + l),
      W_dec: tf.randomNormal([dSae, dModel], 0, 0.02, 'float32', 100 + l),
      b_enc: tf.randomNormal([dSae], 0, 0.01, 'float32', 200 + l),
      b_dec: tf.zeros([dModel]),
    };
    saes.set(hook, SAE.create({ d_in: dModel, d_sae: dSae, metadata: { hook_name: hook } }, w));
    tf.dispose(Object.values(w));
  }
  const rand = (seed: number) => Array.from({ length: N }, (_, n) => Array.from({ length: T }, (_, t) => (seed * 7919 + n * 104729 + t * 1299709) % vocab));
  const clean = rand(1);
  const patch = clean.map((row, n) => row.map((v, t) => (t === T - 2 ? (v + 17 + n) % vocab : v)));
  const pairs = { clean, patch, cleanAnswers: clean.map((_, n) => 100 + n), patchAnswers: clean.map((_, n) => 200 + n) };
  for (const method of methods) {
    const t0 = performance.now();
    let r;
    try {
      r = await attributeNodes(model, saes, pairs, { method, steps });
    } catch (e) {
      // the wasm backend's heap is capped (4 GiB): 12 x 24,576-feature SAEs plus GPT-2 small and the tape may not fit
      console.log(`circuits ${method}: failed on backend ${tf.getBackend()} (${(e as Error).message}); try fewer SAELAB_BENCH_CIRCUITS_LAYERS or another backend`);
      continue;
    }
    const s = (performance.now() - t0) / 1000;
    const nonzero = [...r.byHook.values()].reduce((a, h) => a + h.nodes.filter((v) => v !== 0).length, 0);
    console.log(`circuits ${method}${method === 'ig' ? ` (${steps} steps)` : ''}: ${(s / N).toFixed(2)} s/example (${s.toFixed(1)} s for ${N} examples of ${T} tokens; ${L} layers, d_sae ${dSae}; ${nonzero} non-zero nodes; backend ${tf.getBackend()})`);
  }
  for (const s of saes.values()) s.dispose();
  model.dispose();
}
